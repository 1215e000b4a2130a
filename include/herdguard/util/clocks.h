// The two clocks as plain integers: unix time in ms (what CLIENT LIST's age and idle are told
// against, and what other processes can compare) and the steady clock in ns (what a session
// stamps its reads with, cheaply, and what never jumps).
#pragma once

#include <chrono>
#include <cstdint>

namespace herdguard {

inline std::int64_t unix_now_ms() {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
        .count();
}

inline std::int64_t steady_ns(std::chrono::steady_clock::time_point t) {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

inline std::int64_t steady_now_ns() { return steady_ns(std::chrono::steady_clock::now()); }

// The steady time at which the I/O completion being handled began: a client's batch of requests
// read (session) or a batch of Redis replies read (redis_connection). Stamps that need no finer
// grain than one batch (a request's start, a reply's arrival, a command's deadline) read it
// instead of the clock: a pipelined batch of routed hits read the clock three times a request,
// 5-8% of herdguard's cycles at -P 16 (perf, docs/BENCHMARKS.md issue 28). Outside every scope
// it is the clock itself.
class event_clock {
public:
    using time_point = std::chrono::steady_clock::time_point;
    static time_point now() noexcept { return current_ != time_point{} ? current_ : std::chrono::steady_clock::now(); }

    // Sets the time for the handler's extent, and restores the outer one when it ends.
    class scope {
    public:
        explicit scope(time_point t) noexcept : saved_(current_) { current_ = t; }
        ~scope() { current_ = saved_; }
        scope(const scope&) = delete;
        scope& operator=(const scope&) = delete;

    private:
        time_point saved_;
    };

private:
    static inline thread_local time_point current_{};
};

}  // namespace herdguard
