// The read-through engine: the routes in effect (reloaded on SIGHUP without losing the counters,
// breakers and flights of unchanged routes), key lookups, and what INFO, HERDGUARD FLIGHTS and
// graceful shutdown read of it. The life of a routed GET starts in read_step.cpp.
#include "herdguard/herd/read_through.h"

#include <fmt/format.h>

#include "herd_internal.h"

namespace herdguard {

using herd_detail::clock;

const char* outcome_name(get_outcome o) {
    switch (o) {
        case get_outcome::fresh: return "fresh";
        case get_outcome::stale: return "stale";
        case get_outcome::loaded: return "loaded";
        case get_outcome::waited: return "waited";
        case get_outcome::error: return "error";
        case get_outcome::count_: break;
    }
    return "?";
}

std::vector<std::pair<std::string, std::string>> route_gauges(const route_runtime& r) {
    return {
        {"waiters_now", std::to_string(r.waiters_now.load(std::memory_order_relaxed))},
        {"loads_in_flight", std::to_string(r.loads_in_flight.load(std::memory_order_relaxed))},
        {"breaker_state", circuit_breaker::name(r.breaker.current())},
        {"breaker_trips", std::to_string(r.breaker.trips())},
    };
}

std::string lock_key(std::string_view key) { return "herdguard:lock:" + std::string(key); }
std::string negative_key(std::string_view key) { return "herdguard:neg:" + std::string(key); }
std::string failure_key(std::string_view key) { return "herdguard:fail:" + std::string(key); }

route_runtime::route_runtime(const route_config& c)
    : cfg(c),
      pattern(c.match),
      url(parse_upstream_url(c.upstream).value_or(upstream_url{})),
      breaker(c.breaker, c.load_timeout) {}

herd_engine::herd_engine(const std::vector<route_config>& routes) { reload(routes); }

herd_engine::~herd_engine() = default;

std::size_t herd_engine::reload(const std::vector<route_config>& routes) {
    std::lock_guard lock(reload_mutex_);
    const route_list* current = active_.load(std::memory_order_acquire);
    auto next = std::make_unique<route_list>();
    std::size_t kept = 0;
    for (const auto& cfg : routes) {
        route_runtime* same = nullptr;
        if (current != nullptr) {
            for (auto* r : *current)
                if (r->cfg == cfg) same = r;
        }
        if (same != nullptr) {
            ++kept;
            next->push_back(same);
        } else {
            runtimes_.push_back(std::make_unique<route_runtime>(cfg));
            next->push_back(runtimes_.back().get());
        }
    }
    lists_.push_back(std::move(next));
    active_.store(lists_.back().get(), std::memory_order_release);
    return kept;
}

route_runtime* herd_engine::find_route(std::string_view key) const {
    for (auto* r : routes())
        if (r->pattern.match(key)) return r;
    return nullptr;
}

std::vector<flight_info> herd_engine::flights() const {
    std::vector<flight_info> out;
    auto now = clock::now();
    for (auto* r : routes()) {
        std::lock_guard lock(r->mutex);
        for (const auto& [key, f] : r->flights) {
            out.push_back({r->cfg.name, key, f->live_waiters,
                           std::chrono::duration_cast<duration>(now - f->started), f->background});
        }
    }
    return out;
}

bool herd_engine::idle() const {
    // Every runtime, not just the active ones: loads on replaced routes must finish too.
    std::lock_guard reload_lock(reload_mutex_);
    for (const auto& r : runtimes_) {
        if (r->loads_in_flight.load(std::memory_order_relaxed) > 0) return false;
        std::lock_guard lock(r->mutex);
        if (!r->flights.empty()) return false;
    }
    return true;
}

std::string herd_engine::info_section() const {
    std::string out = "# Herdguard\r\n";
    const auto& routes = this->routes();
    out += fmt::format("routes:{}\r\n", routes.size());
    for (auto* r : routes) {
        const auto& n = r->cfg.name;
#define HERDGUARD_INFO_ROUTE_COUNTER(counter, help) \
    out += fmt::format("route_{}_" #counter ":{}\r\n", n, r->counters.counter.load(std::memory_order_relaxed));
        HERDGUARD_ROUTE_COUNTERS(HERDGUARD_INFO_ROUTE_COUNTER)
#undef HERDGUARD_INFO_ROUTE_COUNTER
        for (const auto& [name, value] : route_gauges(*r)) out += fmt::format("route_{}_{}:{}\r\n", n, name, value);
    }
    return out;
}

}  // namespace herdguard
