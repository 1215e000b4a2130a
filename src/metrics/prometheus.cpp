#include "herdguard/metrics/prometheus.h"

#include <fmt/format.h>

#include "herdguard/herd/read_through.h"
#include "herdguard/metrics/stats_source.h"

namespace herdguard {

namespace {

void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// Route names are validated to be non-empty; escape what the label syntax needs.
std::string label(std::string_view v) {
    std::string out;
    for (char c : v) {
        if (c == '\\' || c == '"') out.push_back('\\');
        if (c == '\n') {
            out += "\\n";
            continue;
        }
        out.push_back(c);
    }
    return out;
}

// A key as a label value: keys are bytes, label values UTF-8 text, so bytes outside printable
// ASCII (and '%') are written %HH, then escaped as any label.
std::string key_label(std::string_view key) {
    std::string text;
    for (unsigned char c : key) {
        if (c < 0x20 || c > 0x7e || c == '%') text += fmt::format("%{:02X}", c);
        else text.push_back(static_cast<char>(c));
    }
    return label(text);
}

}  // namespace

std::string prometheus_text(const stats_source& source, prometheus_options options) {
    std::string out;
    for (const auto& c : source.summed_counters()) {
        std::string name = fmt::format("herdguard_{}_total", c.name);
        family(out, name, "counter", c.help);
        out += fmt::format("{} {}\n", name, c.value);
    }
    family(out, "herdguard_connected_clients", "gauge", "client connections open now");
    out += fmt::format("herdguard_connected_clients {}\n", source.clients_connected());

    const auto links = source.shared_redis_links();
    family(out, "herdguard_redis_connections_up", "gauge", "shared redis connections connected now");
    out += fmt::format("herdguard_redis_connections_up {}\n", links.up);
    family(out, "herdguard_redis_connections", "gauge", "shared redis connections configured");
    out += fmt::format("herdguard_redis_connections {}\n", links.total);
    family(out, "herdguard_redis_private_connections", "gauge",
           "private redis connections held by clients now (MULTI, blocking, pub/sub, ...)");
    out += fmt::format("herdguard_redis_private_connections {}\n", source.private_redis_connections());
    if (const auto cluster = source.cluster_map(); cluster.enabled) {
        family(out, "herdguard_cluster_map_version", "gauge", "slot maps of the cluster taken so far (0: none yet)");
        out += fmt::format("herdguard_cluster_map_version {}\n", cluster.version);
        family(out, "herdguard_cluster_map_refreshes_total", "counter", "slot map lookups made, taken or not");
        out += fmt::format("herdguard_cluster_map_refreshes_total {}\n", cluster.refreshes);
        family(out, "herdguard_cluster_masters", "gauge", "masters in the current slot map");
        out += fmt::format("herdguard_cluster_masters {}\n", cluster.masters);
        family(out, "herdguard_cluster_map_error", "gauge", "1 while the last slot map lookup failed, else 0");
        out += fmt::format("herdguard_cluster_map_error {}\n", cluster.last_error.empty() ? 0 : 1);
    }
    if (options.hot_keys) {
        family(out, "herdguard_hot_key_reads_per_second", "gauge",
               "the 10 keys read most in the last second, estimated from a sample of reads (in_l1: held in L1)");
        for (const auto& k : source.hot_keys_now(10))
            out += fmt::format("herdguard_hot_key_reads_per_second{{key=\"{}\",in_l1=\"{}\"}} {:.0f}\n",
                               key_label(k.key), source.read_through().l1_holds(k.key) ? "yes" : "no",
                               k.reads_per_second);
    }

    const auto& herd = source.read_through();
    family(out, "herdguard_l1_active", "gauge", "1 while L1 serves (CLIENT TRACKING up), else 0");
    out += fmt::format("herdguard_l1_active {}\n", herd.l1_active() ? 1 : 0);
    family(out, "herdguard_l1_flushes_total", "counter",
           "times every L1 was emptied (FLUSHALL/FLUSHDB, tracking lost or re-established)");
    out += fmt::format("herdguard_l1_flushes_total {}\n", herd.l1_stats().flushes.load());
    family(out, "herdguard_l1_tracking_lost_total", "counter", "tracking connection lost, or its PING late");
    out += fmt::format("herdguard_l1_tracking_lost_total {}\n", herd.l1_stats().tracking_lost.load());
    family(out, "herdguard_l1_invalidation_messages_total", "counter", "invalidation pushes received from Redis");
    out += fmt::format("herdguard_l1_invalidation_messages_total {}\n", herd.l1_stats().invalidation_messages.load());

    const auto& routes = herd.routes();
#define HERDGUARD_PROM_ROUTE_COUNTER(counter, help)                                                 \
    family(out, "herdguard_route_" #counter "_total", "counter", help);                             \
    for (const auto& r : routes)                                                                    \
        out += fmt::format("herdguard_route_" #counter "_total{{route=\"{}\"}} {}\n",                \
                           label(r->cfg.name), r->counters.counter.load(std::memory_order_relaxed));
    HERDGUARD_ROUTE_COUNTERS(HERDGUARD_PROM_ROUTE_COUNTER)
#undef HERDGUARD_PROM_ROUTE_COUNTER
    family(out, "herdguard_route_waiters", "gauge", "requests waiting for a load now");
    for (const auto& r : routes)
        out += fmt::format("herdguard_route_waiters{{route=\"{}\"}} {}\n", label(r->cfg.name),
                           r->waiters_now.load(std::memory_order_relaxed));
    family(out, "herdguard_route_loads_in_flight", "gauge", "upstream loads running now");
    for (const auto& r : routes)
        out += fmt::format("herdguard_route_loads_in_flight{{route=\"{}\"}} {}\n", label(r->cfg.name),
                           r->loads_in_flight.load(std::memory_order_relaxed));
    family(out, "herdguard_route_breaker_state", "gauge", "circuit breaker: 0 closed, 1 open, 2 half-open");
    for (const auto& r : routes)
        out += fmt::format("herdguard_route_breaker_state{{route=\"{}\"}} {}\n", label(r->cfg.name),
                           static_cast<int>(r->breaker.current()));
    family(out, "herdguard_route_l1_bytes", "gauge", "bytes L1 holds for the route, overhead counted (l1.max_bytes)");
    for (const auto& r : routes)
        if (r->l1) out += fmt::format("herdguard_route_l1_bytes{{route=\"{}\"}} {}\n", label(r->cfg.name), r->l1->bytes());
    family(out, "herdguard_route_l1_entries", "gauge", "values L1 holds for the route");
    for (const auto& r : routes)
        if (r->l1) out += fmt::format("herdguard_route_l1_entries{{route=\"{}\"}} {}\n", label(r->cfg.name), r->l1->entries());
    family(out, "herdguard_route_l1_evictions_total", "counter", "L1 entries evicted to stay within max_bytes");
    for (const auto& r : routes)
        if (r->l1) out += fmt::format("herdguard_route_l1_evictions_total{{route=\"{}\"}} {}\n", label(r->cfg.name), r->l1->evictions());
    family(out, "herdguard_route_breaker_trips_total", "counter", "times the circuit opened");
    for (const auto& r : routes)
        out += fmt::format("herdguard_route_breaker_trips_total{{route=\"{}\"}} {}\n", label(r->cfg.name),
                           r->breaker.trips());

    family(out, "herdguard_route_request_duration_seconds", "histogram",
           "routed GET latency by outcome: fresh, stale, loaded (started the load), waited (joined it), error");
    for (const auto& r : routes) {
        for (std::size_t o = 0; o < static_cast<std::size_t>(get_outcome::count_); ++o) {
            r->latency.request[o].append_prometheus(
                out, "herdguard_route_request_duration_seconds",
                fmt::format("route=\"{}\",outcome=\"{}\"", label(r->cfg.name), outcome_name(static_cast<get_outcome>(o))));
        }
    }
    family(out, "herdguard_route_load_duration_seconds", "histogram", "upstream HTTP load latency");
    for (const auto& r : routes)
        r->latency.load.append_prometheus(out, "herdguard_route_load_duration_seconds",
                                          fmt::format("route=\"{}\"", label(r->cfg.name)));
    family(out, "herdguard_route_wait_duration_seconds", "histogram", "time a miss waited for its single flight");
    for (const auto& r : routes)
        r->latency.wait.append_prometheus(out, "herdguard_route_wait_duration_seconds",
                                          fmt::format("route=\"{}\"", label(r->cfg.name)));
    return out;
}

}  // namespace herdguard
