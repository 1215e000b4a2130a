// Helpers the harness's files share (not for the tests themselves: they use harness.h).
#pragma once

#include <sys/time.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "harness.h"

namespace herdguard::test::detail {

using steady = std::chrono::steady_clock;

inline std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

inline timeval to_timeval(milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

inline int remaining_ms(steady::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady::now()).count();
    return static_cast<int>(std::max<long long>(0, left));
}

inline std::string ms_text(milliseconds ms) { return std::to_string(ms.count()) + "ms"; }

enum class readiness { ready, exited, timed_out };

// Polls `answers` every 20 ms for at most ~5 s, giving up early if the child exits.
template <typename Probe>
readiness wait_until_answering(process& proc, Probe answers) {
    using namespace std::chrono_literals;
    const auto deadline = steady::now() + 5s;
    for (;;) {
        if (!proc.running()) return readiness::exited;
        if (answers()) return readiness::ready;
        if (steady::now() >= deadline) return readiness::timed_out;
        std::this_thread::sleep_for(20ms);
    }
}

// The child's log says its port was taken (a race with another process for a free port).
bool log_says_port_taken(const process& proc);

struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace herdguard::test::detail
