// Rate limit for one kind of log line: at most one line per interval, and the next line that gets
// through says how many were suppressed in between. A herd of failures then costs one log line a
// second, not one per request. Thread-safe and lock-free.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace herdguard {

class log_limiter {
public:
    explicit log_limiter(std::chrono::milliseconds interval = std::chrono::seconds(1)) : interval_ns_(interval.count() * 1000000) {}

    // True when this event may be logged now; `suppressed` is then the number of events dropped
    // since the last line that got through.
    bool allow(std::uint64_t& suppressed) {
        const std::int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
        std::int64_t next = next_ns_.load(std::memory_order_relaxed);
        if (now >= next && next_ns_.compare_exchange_strong(next, now + interval_ns_, std::memory_order_relaxed)) {
            suppressed = dropped_.exchange(0, std::memory_order_relaxed);
            return true;
        }
        dropped_.fetch_add(1, std::memory_order_relaxed);
        return false;
    }

private:
    std::int64_t interval_ns_;
    std::atomic<std::int64_t> next_ns_{0};
    std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace herdguard
