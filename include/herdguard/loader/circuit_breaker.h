// Closed / open / half-open breaker in front of one route's upstream. It sees loads, not client
// requests (coalescing already divided those), so it counts outcomes in a time window with a
// small min_calls, rather than consecutive failures.
//
//  closed    -> open       when >= min_calls loads finished in `window` and the failed share
//                          reached failure_rate
//  open      -> half_open  after open_for (+ up to 10% jitter, so a fleet does not probe in step)
//  half_open -> closed     when a probe succeeds; -> open when one fails
// A probe that never reports (hung) counts as failed after `probe_timeout`: it cannot pin the
// breaker half-open. Thread-safe: one breaker per route, shared by all workers.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <vector>

#include "herdguard/config/config.h"

namespace herdguard {

class circuit_breaker {
public:
    using clock = std::chrono::steady_clock;
    using now_fn = std::function<clock::time_point()>;
    using rand_fn = std::function<double()>;  // uniform in [0, 1)

    enum class state : int { closed = 0, open = 1, half_open = 2 };

    struct permit {
        bool probe = false;
        std::uint64_t id = 0;
    };

    circuit_breaker(breaker_config cfg, duration probe_timeout, now_fn now = nullptr, rand_fn rand = nullptr);

    // A permit to load, or nullopt when the breaker rejects the load (open, or probes taken).
    std::optional<permit> try_acquire();
    void record(const permit& p, bool success);

    // The state as an operator should see it: an open breaker whose open_for has passed reports
    // half-open (it admits a probe on the next load) even before a load asks.
    state current() const;
    std::uint64_t trips() const { return trips_.load(std::memory_order_relaxed); }
    std::uint64_t rejections() const { return rejections_.load(std::memory_order_relaxed); }
    static const char* name(state s);

private:
    void trip(clock::time_point now);  // mutex held
    void prune(clock::time_point now);  // mutex held

    breaker_config cfg_;
    duration probe_timeout_;
    now_fn now_;
    rand_fn rand_;
    mutable std::mutex mutex_;
    std::atomic<state> state_{state::closed};
    std::deque<std::pair<clock::time_point, bool>> outcomes_;  // closed state, within window
    clock::time_point open_until_{};
    struct probe_entry {
        std::uint64_t id;
        clock::time_point issued;
    };
    std::vector<probe_entry> probes_;
    std::uint64_t next_id_ = 1;
    std::atomic<std::uint64_t> trips_{0};
    std::atomic<std::uint64_t> rejections_{0};
};

}  // namespace herdguard
