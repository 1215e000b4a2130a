// A worker: one thread, one io_context, its own shared Redis connections and counters.
// Sessions live on exactly one worker, so nothing on the pass-through path takes a lock.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "herdguard/config/config.h"
#include "herdguard/herd/fresh_memo.h"
#include "herdguard/herd/herd_context.h"
#include "herdguard/herd/read_through.h"
#include "herdguard/loader/http_loader.h"
#include "herdguard/metrics/stats_source.h"
#include "herdguard/server/client_directory.h"
#include "herdguard/stats/stats.h"
#include "herdguard/upstream/backend.h"
#include "herdguard/upstream/connection_registry.h"
#include "herdguard/util/log_limiter.h"
#include "herdguard/util/random.h"
#include "herdguard/tls/tls_context.h"

namespace herdguard {

namespace asio = boost::asio;

// State every worker reads; owned by the server, outlives all workers. It is also what INFO,
// /metrics and the admin endpoints read (stats_source), defined in server.cpp.
struct worker;
class cluster_watch;
class cluster_backend;
struct server_state final : stats_source {
    explicit server_state(const config& c)
        : cfg(c), herd(c.routes), hot_keys(static_cast<std::size_t>(c.threads)),
          clients(static_cast<std::uint32_t>(thread_random())) {}
    std::vector<counter_value> summed_counters() const override;
    std::uint64_t clients_connected() const override { return connected_clients.load(std::memory_order_relaxed); }
    std::int64_t private_redis_connections() const override {
        return private_connections_open.load(std::memory_order_relaxed);
    }
    redis_links shared_redis_links() const override;
    bool redis_ready() const override;
    cluster_map_state cluster_map() const override;
    std::vector<hot_key_board::rate> hot_keys_now(std::size_t n) const override { return hot_keys.top(n); }
    const herd_engine& read_through() const override { return herd; }
    const config& cfg;
    shared_connection_registry registry;
    std::atomic<std::uint64_t> connected_clients{0};
    std::atomic<std::int64_t> busy_sessions{0};   // sessions waiting for replies (drain waits on them)
    std::atomic<std::int64_t> writes_in_flight{0};  // client writes not yet completed (drain too)
    std::atomic<std::int64_t> private_connections_open{0};  // held by sessions now (a gauge)
    log_limiter client_log;  // rejected and cut-off clients: one line a second at most
    log_limiter tls_log;     // failed client TLS handshakes: one line a second at most
    tls_contexts tls;        // built once at startup; read-only afterwards (see tls_context.h)
    herd_engine herd;
    hot_key_board hot_keys;  // every worker's last second of sampled reads (stats/hot_keys.h)
    std::vector<worker*> workers;  // for INFO: every worker's counters
    // redis.cluster: the slot map, learned and refreshed for every worker (cluster_watch.h).
    std::shared_ptr<cluster_watch> cluster;
    // Who is connected, for CLIENT LIST/INFO/KILL (client_directory.h), and its publication for
    // the other instances (client_directory_sync.h, on worker 0).
    client_directory clients;
    std::shared_ptr<class client_directory_sync> clients_sync;
};

class shared_connections;

struct worker {
    worker(server_state& s, std::size_t i);
    ~worker();
    worker(const worker&) = delete;
    worker& operator=(const worker&) = delete;

    // What a client session sends through: one of the shared connections for its protocol (2 or
    // 3), the same for all of its commands, so they reach Redis in the order the client sent
    // them, as on a direct connection (round-robin over sessions spreads the load). RESP3
    // clients get connections on which Redis speaks RESP3, so their replies are Redis's own;
    // those are opened on the first RESP3 client.
    backend& session_backend(int protocol = 2);
    // A connection of the client's own, for its stateful modes (client_link in backend.h).
    std::shared_ptr<client_link> open_client_link(int protocol = 2);

    server_state& server;
    std::size_t index;
    asio::io_context ctx{1};  // concurrency hint 1: single-threaded, no internal locking
    worker_stats stats;
    std::unique_ptr<http_loader> http = std::make_unique<http_loader>(ctx.get_executor());
    fresh_memo memo;  // routed keys seen fresh: their hits need GET alone, not GET + PTTL
    hot_key_sampler hot;  // a sample of this worker's reads, published once a second
    // The shared, pipelined Redis connections (shared_connections.h): behind a pointer, so what
    // includes this file (the session) sees backends only, never a connection.
    std::unique_ptr<shared_connections> shared;
    std::unique_ptr<shared_connections> shared_resp3;  // null until the first RESP3 client
    // shared_resp3 once complete, for other threads (/readyz, metrics): its list never changes.
    std::atomic<const shared_connections*> shared_resp3_published{nullptr};
    // redis.cluster instead of redis.address: the cluster's masters behind the same backend
    // calls (cluster_backend.h), for RESP2 and, from the first RESP3 client, RESP3.
    std::unique_ptr<cluster_backend> cluster;
    std::unique_ptr<cluster_backend> cluster_resp3;
    std::atomic<const cluster_backend*> cluster_resp3_published{nullptr};
    herd_context herd;  // what the herd engine may use of this worker
};

}  // namespace herdguard
