// Helpers the fault tests (test_faults_*.cpp) share: sizes, printable bytes for failure
// messages, the proxy's memory (a VmRSS sampler and a bound asserted only without sanitizers),
// a proxy config with only a limits: block, a liveness check, and figures written for
// post-mortems.
//
// Memory is judged by the proxy's VmRSS (/proc/PID/status), sampled every few ms by a thread
// while a test runs, so a transient allocation shows up even if it is freed again.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdio>
#include <fstream>
#include <string>
#include <string_view>
#include <thread>

#include "harness.h"
#include "shared_helpers.h"

namespace herdguard::test {

inline constexpr std::size_t kib = 1024;
inline constexpr std::size_t mib = 1024 * 1024;

inline std::string mb_text(std::size_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / mib);
    return buf;
}

inline std::string printable(std::string_view s, std::size_t max_len = 200) {
    std::string out;
    for (unsigned char c : s.substr(0, max_len)) {
        if (c == '\r')
            out += "\\r";
        else if (c == '\n')
            out += "\\n";
        else if (c >= 0x20 && c < 0x7f)
            out.push_back(static_cast<char>(c));
        else
            out += "\\x" + std::to_string(c);
    }
    if (s.size() > max_len) out += "...(" + std::to_string(s.size()) + " bytes)";
    return out;
}

inline bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

// A bound on the proxy's memory holds for a plain build only: ASan's shadow memory and its
// quarantine of freed blocks (256 MB by default) and TSan's shadow inflate RSS by design. Under a
// sanitizer the figure is still printed and recorded, and the sanitizer checks the memory itself.
#define CHECK_MEMORY_BOUND(expr)                                                    \
    do {                                                                            \
        if (sanitizer().empty())                                                    \
            CHECK(expr);                                                            \
        else                                                                        \
            WARN("under " << sanitizer() << ", not asserted: " #expr);              \
    } while (false)

// Samples a process's VmRSS every `every` on its own thread and keeps the peak. The baseline is
// taken in the constructor.
class rss_sampler {
  public:
    explicit rss_sampler(pid_t pid, milliseconds every = 5ms)
        : pid_(pid), base_(process_rss_bytes(pid)), peak_(base_) {
        thread_ = std::thread([this, every] {
            while (!stop_) {
                try {
                    const std::size_t now = process_rss_bytes(pid_);
                    if (now > peak_.load()) peak_ = now;
                } catch (const harness_error&) {
                    gone_ = true;
                    return;
                }
                std::this_thread::sleep_for(every);
            }
        });
    }
    ~rss_sampler() { stop(); }
    rss_sampler(const rss_sampler&) = delete;
    rss_sampler& operator=(const rss_sampler&) = delete;

    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::size_t base() const { return base_; }
    std::size_t peak() const { return peak_; }
    std::size_t growth() const { return peak_ > base_ ? peak_ - base_ : 0; }
    bool process_gone() const { return gone_; }
    std::string describe() const {
        return "VmRSS base " + mb_text(base_) + ", peak " + mb_text(peak_) + " (+" +
               mb_text(growth()) + ")" + (gone_ ? ", process gone" : "");
    }

  private:
    pid_t pid_;
    std::size_t base_;
    std::atomic<std::size_t> peak_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> gone_{false};
    std::thread thread_;
};

// A proxy config with only a limits: block (redis address and admin come from the flags).
inline herdguard_options with_limits(const std::string& limits_body) {
    herdguard_options opts;
    opts.config_yaml = "limits:\n" + limits_body;
    return opts;
}

// Fails the test with the proxy's log tail if it died.
inline void require_running(herdguard_proc& proxy) {
    INFO("herdguard log tail:\n" << proxy.log_tail());
    INFO(proxy.describe_exit());
    REQUIRE(proxy.running());
}

// Writes `text` (one line) to a file in the test's temp dir, for post-mortems
// (HERDGUARD_IT_KEEP_TMP=1 keeps the dir).
inline void record(const temp_dir& dir, const std::string& file, const std::string& text) {
    std::ofstream(dir.file(file)) << text << "\n";
}

}  // namespace herdguard::test
