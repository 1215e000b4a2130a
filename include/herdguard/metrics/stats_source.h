// What INFO, HERDGUARD STATS, /metrics and the admin readiness check read: the server's live
// numbers, behind an interface so metrics/ and admin/ never include the server or its workers.
// The server state implements it (server/worker.h); any thread may call it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "herdguard/stats/hot_keys.h"
#include "herdguard/stats/stats.h"

namespace herdguard {

class herd_engine;

class stats_source {
public:
    struct redis_links {
        std::size_t up = 0;     // shared Redis connections connected now
        std::size_t total = 0;  // shared Redis connections configured
    };

    // In front of a cluster: the slot map as the process knows it now (upstream/cluster_watch.h).
    struct cluster_map_state {
        bool enabled = false;           // redis.cluster is set
        std::uint64_t version = 0;      // maps taken so far (0: none known yet)
        std::uint64_t refreshes = 0;    // lookups made, taken or not
        std::size_t masters = 0;        // in the current map
        std::string last_error;         // why the last lookup failed ("" when it did not)
    };

    virtual std::vector<counter_value> summed_counters() const = 0;  // every worker's
    virtual std::uint64_t clients_connected() const = 0;
    virtual redis_links shared_redis_links() const = 0;
    // /readyz: Redis can be reached. In front of one Redis, a shared connection is up; in front
    // of a cluster, the slot map is known and its last refresh succeeded (connections to the
    // masters are made on first use).
    virtual bool redis_ready() const { return shared_redis_links().up > 0; }
    // Private Redis connections that clients hold now (stateful modes: MULTI, blocking, pub/sub...).
    virtual std::int64_t private_redis_connections() const = 0;
    // The keys read most in the last second, all workers (stats/hot_keys.h); at most `n`.
    virtual std::vector<hot_key_board::rate> hot_keys_now(std::size_t n) const = 0;
    virtual const herd_engine& read_through() const = 0;  // routes: counters, gauges, latency, flights
    virtual cluster_map_state cluster_map() const { return {}; }

protected:
    ~stats_source() = default;
};

}  // namespace herdguard
