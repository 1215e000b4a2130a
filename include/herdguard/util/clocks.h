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

}  // namespace herdguard
