// The herd-proof read-through GET for keys that match a route. See src/herd/read_through.cpp for
// the life of a GET, top to bottom.
//
// Shared by every worker: routes, their breakers and the single-flight table live here, behind
// one mutex per route (taken on misses only, never on the hit path).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "herdguard/config/config.h"
#include "herdguard/herd/l1_cache.h"
#include "herdguard/herd/route.h"
#include "herdguard/loader/circuit_breaker.h"
#include "herdguard/stats/histogram.h"
#include "herdguard/stats/hot_keys.h"
#include "herdguard/stats/thread_shard.h"
#include "herdguard/util/log_limiter.h"
#include "herdguard/upstream/backend.h"

namespace herdguard {

struct herd_context;

// Per-route counters; many threads write them, each into a shard of its own (stats/thread_shard.h:
// `requests` and `hits` are counted on every hit, where a locked add per counter showed).
#define HERDGUARD_ROUTE_COUNTERS(X)                                                        \
    X(requests, "routed GETs")                                                           \
    X(hits, "served fresh from redis")                                                   \
    X(memo_hits, "fresh hits read with GET alone (the key was in the worker's fresh memo)") \
    X(stale_hits, "served stale while one refresh runs")                                 \
    X(misses, "not fresh in redis: waited for a load")                                   \
    X(coalesced, "misses that joined a load already in flight in this process")          \
    X(negative_hits, "answered nil from the negative cache (upstream said 404)")         \
    X(lock_acquired, "lease locks won")                                                  \
    X(lock_contended, "lease locks found held by another load")                          \
    X(lock_taken_over, "lease locks won after waiting on another holder")                \
    X(lock_lost_at_write, "loads whose lease was gone at write-back (value not written)")\
    X(write_back_skipped, "loads not written back: a client wrote the key during the load")   \
    X(loads_ok, "upstream loads answered 200")                                           \
    X(loads_not_found, "upstream loads answered 404")                                    \
    X(loads_failed, "upstream loads failed (status, timeout, connection)")               \
    X(loads_rejected_breaker, "loads refused because the circuit was open")             \
    X(loads_shed, "loads refused at max_concurrent_loads")                               \
    X(failure_remembered, "misses answered from a failure remembered for error_ttl")     \
    X(stale_served, "stale values served because nothing fresh could be had")           \
    X(background_refreshes, "refreshes started for stale values")                        \
    X(early_refreshes, "refreshes started early for fresh values (early_refresh, XFetch)") \
    X(early_refresh_pauses, "early refreshes that ended without a value, pausing that key's")   \
    X(early_pause_table_full, "early refresh pauses not kept: the pause table was full")   \
    X(l1_hits, "routed GETs answered from L1 (process memory)")                          \
    X(l1_fills, "values stored in L1")                                                   \
    X(l1_fills_voided, "L1 fills refused: the key was invalidated or written during the read") \
    X(l1_invalidations, "L1 entries or reservations dropped by an invalidation or a write") \
    X(waiters_rejected, "requests refused at max_waiters")                               \
    X(wait_timeouts, "requests that waited wait_timeout without a value")                \
    X(errors, "routed GETs answered with an error")

struct route_counters {
#define HERDGUARD_DECLARE_ROUTE_COUNTER(name, help) sharded_counter name;
    HERDGUARD_ROUTE_COUNTERS(HERDGUARD_DECLARE_ROUTE_COUNTER)
#undef HERDGUARD_DECLARE_ROUTE_COUNTER
};

struct flight;

// How a routed GET ended, for the latency histogram.
enum class get_outcome { fresh, stale, loaded, waited, error, count_ };
const char* outcome_name(get_outcome o);

struct route_latency {
    std::array<latency_histogram, static_cast<std::size_t>(get_outcome::count_)> request;  // by outcome
    latency_histogram load;  // upstream HTTP call
    latency_histogram wait;  // time a miss spent waiting for its flight
};

struct route_runtime {
    explicit route_runtime(const route_config& c);

    route_config cfg;
    key_pattern pattern;
    upstream_url url;
    circuit_breaker breaker;
    route_counters counters;
    route_latency latency;
    log_limiter failure_log;   // "load failed" lines for this route
    log_limiter takeover_log;  // "took over the lease" lines
    std::atomic<std::int64_t> waiters_now{0};
    std::atomic<std::int64_t> loads_in_flight{0};
    // Entries in `flights` that a GET may join: misses' loads, not background refreshes (written
    // under `mutex`). A GET reads it without the lock, and only when it is non-zero looks for a
    // load of its key to join before reading Redis; so hits on a route with a refresh running
    // stay off the mutex.
    std::atomic<std::int64_t> foreground_flights{0};
    // The route's load time (XFetch's delta), in microseconds: a moving average over the loads
    // that answered (weight 1/8 for the newest), 0 before the first.
    std::atomic<std::int64_t> load_time_us{0};
    // The route's L1 (l1: in the config), nullptr when off. Serves only while the engine's L1
    // is active (CLIENT TRACKING up: herd/l1_tracking.h).
    std::unique_ptr<l1_cache> l1;

    mutable std::mutex mutex;  // guards `flights`, every flight's waiter list and `early_paused`
    std::unordered_map<std::string, std::shared_ptr<flight>> flights;
    // Keys whose early refresh ended without a value (the lease was held elsewhere, or the load
    // failed), with the time before which no read starts another early refresh of them: without
    // it, every read near expiry would start one more flight. Bounded (kMaxEarlyPaused); a pause
    // that does not fit is not kept (early_pause_table_full), and that key may retry at once.
    static constexpr std::size_t kMaxEarlyPaused = 4096;
    std::unordered_map<std::string, std::chrono::steady_clock::time_point> early_paused;  // herd_clock
};

// A route's live state besides its counters, in the order INFO and HERDGUARD STATS print it:
// waiters_now, loads_in_flight, breaker_state, breaker_trips.
std::vector<std::pair<std::string, std::string>> route_gauges(const route_runtime& r);

// Early refresh (XFetch, read_step.cpp): whether a read of a value with `left_ms` of fresh life
// starts a refresh now, for one random draw; and how long before expiry the worker's fresh memo
// must stop, so reads see PTTL where they may refresh (0 without early_refresh).
bool refresh_early(const route_runtime& r, std::int64_t left_ms, std::uint64_t draw);
std::int64_t early_window_ms(const route_runtime& r);

// Redis key names herdguard keeps beside a routed key.
std::string lock_key(std::string_view key);      // lease lock: "herdguard:lock:<key>"
std::string negative_key(std::string_view key);  // remembered 404: "herdguard:neg:<key>"
std::string failure_key(std::string_view key);   // remembered failure: "herdguard:fail:<key>"
// Appends the key of `kind` ("lock", "neg", "fail") for `key` to `out`, as the three above do.
void append_derived_key(std::string& out, std::string_view kind, std::string_view key);
// In front of a cluster the lease scripts touch the key and these together, so they must share
// its slot. Wrapping the key in braces breaks on keys that have braces already (redisson #1098);
// instead they carry a brace-free tag of the key's slot (resp::tag_of_slot):
// "herdguard:{<tag>}:lock:<key>". Set once at startup, before any thread reads it.
void use_cluster_key_names(bool on);

// A load in flight, for HERDGUARD FLIGHTS.
struct flight_info {
    std::string route;
    std::string key;
    std::size_t waiters;
    duration age;
    bool background;
};

class herd_engine {
public:
    using route_list = std::vector<route_runtime*>;

    explicit herd_engine(const std::vector<route_config>& routes);
    ~herd_engine();

    // Replaces the routes for new requests (SIGHUP). A route whose name and settings are
    // unchanged keeps its runtime: counters, breaker and flights carry over. Replaced runtimes
    // stay alive until exit (a few KB per reload) so loads still running on them finish safely.
    // Thread-safe. Returns how many routes were kept as they were.
    std::size_t reload(const std::vector<route_config>& routes);

    bool empty() const { return routes().empty(); }
    // The first route whose pattern matches, or nullptr.
    route_runtime* find_route(std::string_view key) const;

    // A GET of a routed key. `slot` receives exactly one reply, on `hc`'s executor, within
    // command_timeout + wait_timeout. Reads go through `conn` (the caller's shared connection)
    // so they keep their place among the caller's pipelined commands. A key with a load already
    // running in this process joins it without reading Redis (a herd costs Redis one read, not
    // one per client); a key the worker's fresh memo knows fresh is read with GET alone.
    // `raw_get`: the client's GET as it sent it, passed on as is; empty to encode one.
    void get(route_runtime& route, std::string_view key, herd_context& hc, backend& conn, reply_handler& slot,
             std::string_view raw_get = {});

    // Stale-set protection for a client write that takes a routed key's value away or changes
    // only its TTL (DEL, EXPIRE, RENAME...): revokes any lease in flight for it (and forgets
    // remembered 404s and failures), so a load that started before the write can never overwrite
    // it. Queued on `conn` before the client's command. The thread's fresh memo forgets the key
    // too. `route`: the key's (find_route). A write that gives the key a value needs only
    // forget_fresh: the write-back sees the new value itself (lease_scripts.h).
    void revoke(route_runtime& route, std::string_view key, herd_context& hc, backend& conn);
    void forget_fresh(route_runtime& route, std::string_view key, herd_context& hc);

    // L1 (l1_cache.h). Coherence: l1_tracking.h turns it on once CLIENT TRACKING is set up, and
    // off (emptying every route's L1) when the tracking connection is lost; an invalidation
    // message, and every write through herdguard (when its reply arrives, before the client
    // sees it), drop the key; a flush (FLUSHALL, FLUSHDB, a null invalidation) drops all.
    bool l1_configured() const { return l1_configured_.load(std::memory_order_relaxed); }
    bool l1_active() const {
        return l1_active_.load(std::memory_order_acquire) && l1_flush_fences_.load(std::memory_order_acquire) == 0;
    }
    void l1_set_active(bool on);
    void l1_invalidate(std::string_view key);
    // A write through herdguard on its way to Redis (l1_cache::fence): the key is not served or
    // filled until l1_unfence, which the write's reply calls (and which drops the key again).
    void l1_fence(std::string_view key);
    void l1_unfence(std::string_view key);
    // The same for FLUSHALL / FLUSHDB / SWAPDB: L1 is bypassed while one is in flight, and its
    // reply (on = false) empties L1.
    void l1_fence_all(bool on);
    void l1_flush();
    bool l1_holds(std::string_view key) const;
    // The literal prefixes of the routes with L1 (what precedes the first wildcard), without
    // overlaps (Redis refuses BCAST prefixes that overlap); {""} when one route has none.
    std::vector<std::string> l1_prefixes() const;
    // The keys read most, all workers, once a second: `admit: hot` admits by these rates.
    void set_hot_keys(const std::vector<hot_key_board::rate>& rates);
    double hot_rate(std::string_view key) const;
    struct l1_totals {
        std::atomic<std::uint64_t> flushes{0};          // every route's L1 emptied at once
        std::atomic<std::uint64_t> tracking_lost{0};    // tracking connection lost, or its PING late
        std::atomic<std::uint64_t> invalidation_messages{0};
    };
    l1_totals& l1_stats() const { return l1_totals_; }

    std::vector<flight_info> flights() const;
    // True when no flight and no load is running (graceful shutdown waits for this).
    bool idle() const;

    // "# Herdguard" INFO section.
    std::string info_section() const;
    // The routes in effect now. The list stays valid until exit (lists are never freed).
    const route_list& routes() const { return *active_.load(std::memory_order_acquire); }

private:
    mutable std::mutex reload_mutex_;
    std::vector<std::unique_ptr<route_runtime>> runtimes_;  // every runtime ever created
    std::vector<std::unique_ptr<route_list>> lists_;        // every route list ever active
    std::atomic<const route_list*> active_{nullptr};
    template <class Fn>
    void for_each_l1_of(std::string_view key, Fn&& fn);  // routes in effect with L1 matching key
    std::atomic<bool> l1_active_{false};
    std::atomic<bool> l1_configured_{false};  // a route in effect has l1 (set by reload)
    std::atomic<int> l1_flush_fences_{0};      // flushes in flight (l1_fence_all)
    mutable l1_totals l1_totals_;
    mutable std::mutex hot_mutex_;
    std::shared_ptr<const std::unordered_map<std::string, double>> hot_;  // hot_mutex_
};

}  // namespace herdguard
