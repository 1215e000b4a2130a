// The read-through engine: the routes in effect (reloaded on SIGHUP without losing the counters,
// breakers and flights of unchanged routes), key lookups, and what INFO, HERDGUARD FLIGHTS and
// graceful shutdown read of it. The life of a routed GET starts in read_step.cpp.
#include "herdguard/herd/read_through.h"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "herdguard/resp/key_slot.h"

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
    std::vector<std::pair<std::string, std::string>> g{
        {"waiters_now", std::to_string(r.waiters_now.load(std::memory_order_relaxed))},
        {"loads_in_flight", std::to_string(r.loads_in_flight.load(std::memory_order_relaxed))},
        {"breaker_state", circuit_breaker::name(r.breaker.current())},
        {"breaker_trips", std::to_string(r.breaker.trips())},
    };
    if (r.l1) {
        g.emplace_back("l1_bytes", std::to_string(r.l1->bytes()));
        g.emplace_back("l1_entries", std::to_string(r.l1->entries()));
        g.emplace_back("l1_evictions", std::to_string(r.l1->evictions()));
    }
    return g;
}

namespace {

bool cluster_key_names = false;

}  // namespace

void use_cluster_key_names(bool on) { cluster_key_names = on; }

// Plain appends, not fmt::format: a write to a routed key builds three of these (revoke), and
// formatting them cost ~1,700 instructions per write (callgrind, docs/BENCHMARKS.md issue 28).
void append_derived_key(std::string& out, std::string_view kind, std::string_view key) {
    const std::string_view tag = cluster_key_names ? resp::tag_of_slot(resp::key_slot(key)) : std::string_view();
    const std::string_view pieces[] = {cluster_key_names ? "herdguard:{" : "herdguard:", tag, cluster_key_names ? "}:" : "",
                                       kind, ":", key};
    std::size_t size = 0;
    for (auto p : pieces) size += p.size();
    const std::size_t start = out.size();
    out.resize(start + size);  // one size check and one length update, not six
    char* to = out.data() + start;
    for (auto p : pieces) {
        if (!p.empty()) std::memcpy(to, p.data(), p.size());
        to += p.size();
    }
}

namespace {

std::string derived_key(std::string_view kind, std::string_view key) {
    std::string out;
    out.reserve(key.size() + 32);
    append_derived_key(out, kind, key);
    return out;
}

}  // namespace

std::string lock_key(std::string_view key) { return derived_key("lock", key); }
std::string negative_key(std::string_view key) { return derived_key("neg", key); }
std::string failure_key(std::string_view key) { return derived_key("fail", key); }

route_runtime::route_runtime(const route_config& c)
    : cfg(c),
      pattern(c.match),
      url(parse_upstream_url(c.upstream).value_or(upstream_url{})),
      breaker(c.breaker, c.load_timeout),
      l1(c.l1_max_bytes > 0 ? std::make_unique<l1_cache>(c.l1_max_bytes) : nullptr) {}

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
    // Every L1 is emptied on a reload: a replaced route's, so its memory goes back, and a kept
    // one's, since the keys it holds may now belong to another route (invalidations go to the
    // routes in effect). If the tracked prefixes change, L1 is off until tracking covers the new
    // ones (l1_tracking::routes_changed turns it on again).
    const auto old_prefixes = current != nullptr ? l1_prefixes() : std::vector<std::string>{};
    l1_configured_.store(std::any_of(next->begin(), next->end(), [](auto* r) { return r->l1 != nullptr; }),
                         std::memory_order_relaxed);
    lists_.push_back(std::move(next));
    active_.store(lists_.back().get(), std::memory_order_release);
    if (current != nullptr && l1_prefixes() != old_prefixes) l1_set_active(false);
    for (const auto& r : runtimes_)  // after the swap: a read that filled a kept route meanwhile
        if (r->l1) r->l1->clear();
    return kept;
}

route_runtime* herd_engine::find_route(std::string_view key) const {
    for (auto* r : routes())
        if (r->pattern.match(key)) return r;
    return nullptr;
}

void herd_engine::l1_set_active(bool on) {
    if (!on) {
        // Off first, then empty: a read that saw "active" a moment ago may still reserve, but
        // the emptying voids its token.
        l1_active_.store(false, std::memory_order_release);
        l1_flush();
        return;
    }
    l1_flush();  // nothing from before tracking was (re)established survives
    l1_active_.store(true, std::memory_order_release);
}

// Every active route with L1 whose pattern matches `key`, not only the first: a route kept
// through a SIGHUP that put another in front of it may still hold the key.
template <class Fn>
void herd_engine::for_each_l1_of(std::string_view key, Fn&& fn) {
    for (auto* r : routes())
        if (r->l1 && r->pattern.match(key)) fn(*r);
}

void herd_engine::l1_invalidate(std::string_view key) {
    for_each_l1_of(key, [&](route_runtime& r) {
        if (r.l1->invalidate(key)) r.counters.l1_invalidations.fetch_add(1, std::memory_order_relaxed);
    });
}

void herd_engine::l1_fence(std::string_view key) {
    for_each_l1_of(key, [&](route_runtime& r) { r.l1->fence(key); });
}

void herd_engine::l1_unfence(std::string_view key) {
    for_each_l1_of(key, [&](route_runtime& r) { r.l1->unfence(key); });
}

void herd_engine::l1_fence_all(bool on) {
    if (on) l1_flush_fences_.fetch_add(1, std::memory_order_acq_rel);
    else {
        l1_flush();
        l1_flush_fences_.fetch_sub(1, std::memory_order_acq_rel);
    }
}

void herd_engine::l1_flush() {
    if (!l1_configured()) return;  // no route has L1: nothing to empty, nothing to count
    l1_totals_.flushes.fetch_add(1, std::memory_order_relaxed);
    for (auto* r : routes())
        if (r->l1) r->l1->clear();
}

bool herd_engine::l1_holds(std::string_view key) const {
    auto* r = find_route(key);
    return r != nullptr && r->l1 && l1_active() && r->l1->holds(key, clock::now());
}

std::vector<std::string> herd_engine::l1_prefixes() const {
    std::vector<std::string> prefixes;
    for (auto* r : routes()) {
        if (!r->l1) continue;
        const auto& m = r->cfg.match;
        prefixes.push_back(m.substr(0, m.find_first_of("*?[\\")));
    }
    // Shortest first; a prefix that starts with one already kept is covered by it.
    std::sort(prefixes.begin(), prefixes.end(),
              [](const std::string& a, const std::string& b) { return a.size() < b.size() || (a.size() == b.size() && a < b); });
    std::vector<std::string> kept;
    for (auto& p : prefixes) {
        bool covered = false;
        for (const auto& k : kept) covered = covered || p.compare(0, k.size(), k) == 0;
        if (!covered) kept.push_back(std::move(p));
    }
    return kept;
}

void herd_engine::set_hot_keys(const std::vector<hot_key_board::rate>& rates) {
    auto next = std::make_shared<std::unordered_map<std::string, double>>();
    for (const auto& r : rates) next->emplace(r.key, r.reads_per_second);
    std::lock_guard lock(hot_mutex_);
    hot_ = std::move(next);
}

double herd_engine::hot_rate(std::string_view key) const {
    std::shared_ptr<const std::unordered_map<std::string, double>> hot;
    {
        std::lock_guard lock(hot_mutex_);
        hot = hot_;
    }
    if (!hot) return 0;
    auto it = hot->find(std::string(key));
    return it == hot->end() ? 0 : it->second;
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
    out += fmt::format("l1_active:{}\r\nl1_flushes:{}\r\nl1_tracking_lost:{}\r\nl1_invalidation_messages:{}\r\n",
                       l1_active() ? 1 : 0, l1_totals_.flushes.load(), l1_totals_.tracking_lost.load(),
                       l1_totals_.invalidation_messages.load());
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
