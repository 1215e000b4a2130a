// The herd engine's time, one clock for all of it: request and wait start times, freshness (the
// memo), the lease's give-up time, and the timers of waiters (wait_timeout) and lease polls.
// It is steady_clock in production. A test sets `source` to a function of its own and moves time
// by hand, so a wait_timeout or a lock_ttl passes without the test waiting for it.
//
// The timers (herd_timer) are Asio timers of this clock. While a test clock is set, they wake the
// event loop at least every millisecond (herd_wait_traits): the loop cannot know when the test
// will move time, so it re-checks often. With the real clock they wait as any steady_timer.
#pragma once

#include <algorithm>
#include <chrono>

#include <boost/asio/basic_waitable_timer.hpp>

namespace herdguard {

struct herd_clock {
    using duration = std::chrono::steady_clock::duration;
    using rep = duration::rep;
    using period = duration::period;
    using time_point = std::chrono::steady_clock::time_point;
    static constexpr bool is_steady = true;

    static time_point real_now() noexcept { return std::chrono::steady_clock::now(); }
    static time_point now() noexcept { return source(); }
    static bool is_real() noexcept { return source == &real_now; }

    // Set only while no engine runs (a test's setup and teardown); read by every worker thread.
    static inline time_point (*source)() noexcept = &real_now;
};

struct herd_wait_traits {
    static herd_clock::duration to_wait_duration(const herd_clock::duration& d) {
        if (herd_clock::is_real()) return d;
        return std::min<herd_clock::duration>(d, std::chrono::milliseconds(1));
    }
    static herd_clock::duration to_wait_duration(const herd_clock::time_point& t) {
        return to_wait_duration(t - herd_clock::now());
    }
};

using herd_timer = boost::asio::basic_waitable_timer<herd_clock, herd_wait_traits>;

}  // namespace herdguard
