#include "herdguard/loader/circuit_breaker.h"

#include <algorithm>

#include "herdguard/util/random.h"

namespace herdguard {

namespace {
constexpr std::size_t max_outcomes = 4096;  // bound on the window's memory; oldest drop first
}

circuit_breaker::circuit_breaker(breaker_config cfg, duration probe_timeout, now_fn now, rand_fn rand)
    : cfg_(cfg), probe_timeout_(probe_timeout), now_(std::move(now)), rand_(std::move(rand)) {
    if (!now_) now_ = [] { return clock::now(); };
    if (!rand_) rand_ = thread_uniform01;
}

const char* circuit_breaker::name(state s) {
    switch (s) {
        case state::closed: return "closed";
        case state::open: return "open";
        case state::half_open: return "half-open";
    }
    return "?";
}

void circuit_breaker::prune(clock::time_point now) {
    while (!outcomes_.empty() && outcomes_.front().first + cfg_.window <= now) outcomes_.pop_front();
}

void circuit_breaker::trip(clock::time_point now) {
    auto jitter = std::chrono::duration_cast<duration>(cfg_.open_for * (0.1 * rand_()));
    open_until_ = now + cfg_.open_for + jitter;
    state_.store(state::open, std::memory_order_relaxed);
    outcomes_.clear();
    probes_.clear();
    trips_.fetch_add(1, std::memory_order_relaxed);
}

circuit_breaker::state circuit_breaker::current() const {
    auto st = state_.load(std::memory_order_relaxed);
    if (st != state::open) return st;
    std::lock_guard lock(mutex_);
    return now_() >= open_until_ ? state::half_open : state::open;
}

std::optional<circuit_breaker::permit> circuit_breaker::try_acquire() {
    std::lock_guard lock(mutex_);
    auto now = now_();
    switch (state_.load(std::memory_order_relaxed)) {
        case state::closed:
            return permit{false, next_id_++};
        case state::open:
            if (now < open_until_) break;
            state_.store(state::half_open, std::memory_order_relaxed);
            probes_.clear();
            [[fallthrough]];
        case state::half_open: {
            // A probe silent for longer than a load may take has hung or was lost: count it failed.
            for (const auto& p : probes_) {
                if (p.issued + probe_timeout_ <= now) {
                    trip(now);
                    rejections_.fetch_add(1, std::memory_order_relaxed);
                    return std::nullopt;
                }
            }
            if (probes_.size() < static_cast<std::size_t>(cfg_.half_open_probes)) {
                permit p{true, next_id_++};
                probes_.push_back({p.id, now});
                return p;
            }
            break;
        }
    }
    rejections_.fetch_add(1, std::memory_order_relaxed);
    return std::nullopt;
}

void circuit_breaker::record(const permit& p, bool success) {
    std::lock_guard lock(mutex_);
    auto now = now_();
    auto st = state_.load(std::memory_order_relaxed);
    if (p.probe) {
        auto it = std::find_if(probes_.begin(), probes_.end(), [&](const probe_entry& e) { return e.id == p.id; });
        if (st != state::half_open || it == probes_.end()) return;  // a stale probe: already decided
        probes_.erase(it);
        if (success) {
            state_.store(state::closed, std::memory_order_relaxed);
            outcomes_.clear();
            probes_.clear();
        } else {
            trip(now);
        }
        return;
    }
    if (st != state::closed) return;  // a load that started before the trip: already counted
    outcomes_.emplace_back(now, success);
    if (outcomes_.size() > max_outcomes) outcomes_.pop_front();
    prune(now);
    if (success || outcomes_.size() < static_cast<std::size_t>(cfg_.min_calls)) return;
    auto failures = std::count_if(outcomes_.begin(), outcomes_.end(), [](const auto& o) { return !o.second; });
    if (static_cast<double>(failures) >= cfg_.failure_rate * static_cast<double>(outcomes_.size())) trip(now);
}

}  // namespace herdguard
