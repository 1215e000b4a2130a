// Every counter herdguard keeps, declared once. The list expands into the per-worker counter
// struct, the INFO section and the Prometheus text, so a name cannot drift between them.
//
// Each worker thread owns one `worker_stats` and is its only writer; readers on other threads sum
// them. A single writer needs no read-modify-write: a relaxed load+store is enough and costs no
// locked instruction on the hot path.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace herdguard {

#define HERDGUARD_COUNTERS(X)                                                                       \
    X(connections_accepted, "client connections accepted")                                         \
    X(clients_rejected, "client connections refused at limits.max_clients")                        \
    X(commands, "commands received from clients")                                                  \
    X(commands_local, "commands answered by herdguard itself")                                     \
    X(commands_forwarded, "commands forwarded to redis")                                           \
    X(error_replies, "error replies sent to clients (Redis's or herdguard's)")                     \
    X(protocol_errors, "clients disconnected for malformed RESP")                                  \
    X(output_buffer_disconnects, "clients disconnected at limits.client_output_buffer")            \
    X(redis_unavailable_replies, "commands answered with 'redis unavailable'")                     \
    X(redis_bad_replies, "redis connections dropped for bytes that are no reply to a request")     \
    X(client_gone_replies, "commands failed because their client left before redis answered")      \
    X(redis_queue_full, "commands refused because a shared connection queue was full")             \
    X(redis_connects, "successful connections to redis (shared and private)")                      \
    X(redis_connect_failures, "failed connection attempts to redis")                               \
    X(redis_timeouts, "redis connections dropped for command_timeout")                             \
    X(redis_pushes_dropped, "RESP3 pushes on shared redis connections, which name no client")      \
    X(private_connections, "private redis connections opened for stateful clients")                \
    X(tls_handshake_failures, "client TLS handshakes that failed or timed out (tls.listen)")       \
    X(cluster_moved, "MOVED redirects followed (redis.cluster)")                                   \
    X(cluster_ask, "ASK redirects followed (redis.cluster)")                                       \
    X(cluster_retries, "TRYAGAIN, CLUSTERDOWN, LOADING or READONLY replies retried (redis.cluster)") \
    X(cluster_redirect_limit, "commands failed at redis.cluster.max_redirects")                    \
    X(cluster_split_commands, "multi-key commands split by slot (redis.cluster)")                  \
    X(cluster_private_reused, "private cluster connections taken from the pool, not opened")       \
    X(bytes_in, "bytes read from clients")                                                         \
    X(bytes_out, "bytes written to clients")

struct relaxed_counter {
    std::atomic<std::uint64_t> value{0};
    void add(std::uint64_t n = 1) noexcept {
        value.store(value.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
    std::uint64_t get() const noexcept { return value.load(std::memory_order_relaxed); }
};

struct worker_stats {
#define HERDGUARD_DECLARE_COUNTER(name, help) relaxed_counter name;
    HERDGUARD_COUNTERS(HERDGUARD_DECLARE_COUNTER)
#undef HERDGUARD_DECLARE_COUNTER
};

struct counter_value {
    const char* name;
    const char* help;
    std::uint64_t value;
};

// Sums the workers' counters, in declaration order.
inline std::vector<counter_value> sum_counters(const std::vector<const worker_stats*>& workers) {
    std::vector<counter_value> out;
#define HERDGUARD_SUM_COUNTER(name, help)                        \
    {                                                            \
        std::uint64_t total = 0;                                 \
        for (const auto* w : workers) total += w->name.get();    \
        out.push_back({#name, help, total});                     \
    }
    HERDGUARD_COUNTERS(HERDGUARD_SUM_COUNTER)
#undef HERDGUARD_SUM_COUNTER
    return out;
}

}  // namespace herdguard
