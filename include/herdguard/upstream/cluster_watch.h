// The cluster's slot map for the whole process (issue 13): learned at start-up and kept current.
//
// Whom it asks: every node it knows (the seeds, and every node of the last map), in shuffled
// order, so a dead seed or a dead master does not stop it; the first that gives a map covering
// every slot wins. `CLUSTER SHARDS` first, `CLUSTER SLOTS` from servers older than Redis 7.
// When: every redis.cluster.refresh_interval, and soon after anyone calls refresh_soon() (a
// MOVED, a connection refused or lost, CLUSTERDOWN, READONLY). One refresh runs at a time, and
// refresh_soon() waits for min_interval since the last one began: a thousand MOVED replies make
// one refresh, not a storm.
//
// Threads: it runs on one executor (the acceptor's); current() and refresh_soon() may be
// called from any thread. Workers keep their own copy of the map and look at version() (one
// relaxed atomic load) per command to see when to take a new one.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "herdguard/config/config.h"
#include "herdguard/upstream/cluster_topology.h"
#include "herdguard/upstream/redis_connection.h"

namespace herdguard {

class cluster_watch : public std::enable_shared_from_this<cluster_watch> {
public:
    static constexpr std::chrono::milliseconds min_interval{200};

    // `stats`: the counters of the worker it runs on (its lookups' connections count there).
    cluster_watch(asio::any_io_executor ex, const config& cfg, worker_stats& stats, asio::ssl::context* tls);

    void start();
    void stop();
    // Any thread: ask for a refresh soon (coalesced; see above). `why` is logged at debug.
    void refresh_soon(std::string_view why);

    // Any thread. nullptr until the first map is known.
    std::shared_ptr<const cluster_map> current() const;
    std::uint64_t version() const { return version_.load(std::memory_order_acquire); }
    bool has_map() const { return version() > 0; }
    std::uint64_t refreshes() const { return refreshes_.load(std::memory_order_relaxed); }
    // Why the last lookup failed ("" when it did not), for logs and INFO.
    std::string last_error() const;

    // A node's connection settings: redis.* with the node's address.
    static redis_config node_config(const redis_config& base, const std::string& host, std::uint16_t port);

private:
    asio::awaitable<void> run();
    asio::awaitable<void> refresh();
    // One node's map, or nullopt with `why` set.
    asio::awaitable<std::optional<cluster_map>> ask(const address& node, std::string& why);
    std::vector<address> candidates() const;
    void publish(cluster_map map);

    asio::any_io_executor ex_;
    const config& cfg_;
    worker_stats& stats_;
    asio::ssl::context* tls_;
    asio::steady_timer wait_;  // until the next periodic refresh; cancelled by refresh_soon()
    std::atomic<bool> wanted_{false};
    std::atomic<bool> stopped_{false};
    std::atomic<std::uint64_t> version_{0};
    std::atomic<std::uint64_t> refreshes_{0};
    mutable std::mutex mutex_;  // guards map_ and last_error_
    std::shared_ptr<const cluster_map> map_;
    std::string last_error_;
    std::string logged_error_;  // the last failure logged, so a dead cluster logs once per change
};

}  // namespace herdguard
