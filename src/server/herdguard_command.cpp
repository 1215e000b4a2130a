#include "herdguard/server/herdguard_command.h"

#include <fmt/format.h>

#include "herdguard/resp/reply.h"
#include "herdguard/resp/request_parser.h"
#include "herdguard/server/command_table.h"
#include "herdguard/server/worker.h"

namespace herdguard {

namespace {

using pairs = std::vector<std::pair<std::string, std::string>>;

// A map in RESP3, RESP2's flat array of pairs otherwise, as Redis writes CONFIG GET's reply.
void append_pairs(const resp::reply_writer& w, std::string& out, const pairs& p) {
    w.map_header(out, static_cast<std::int64_t>(p.size()));
    for (const auto& [k, v] : p) {
        resp::append_bulk(out, k);
        resp::append_bulk(out, v);
    }
}

pairs route_settings(const route_runtime& r) {
    const auto& c = r.cfg;
    pairs p = {
        {"name", c.name},
        {"match", c.match},
        {"upstream", c.upstream},
        {"protect", c.protect ? "yes" : "no"},
        {"early_refresh_beta", c.early_refresh_beta > 0 ? fmt::format("{}", c.early_refresh_beta) : "off"},
        {"ttl", format_duration(c.ttl)},
        {"ttl_jitter", fmt::format("{}", c.ttl_jitter)},
        {"stale_for", format_duration(c.stale_for)},
        {"stale_if_error", format_duration(c.stale_if_error)},
        {"negative_ttl", format_duration(c.negative_ttl)},
        {"error_ttl", format_duration(c.error_ttl)},
        {"lock_ttl", format_duration(c.lock_ttl)},
        {"load_timeout", format_duration(c.load_timeout)},
        {"wait_timeout", format_duration(c.wait_timeout)},
        {"max_waiters", std::to_string(c.max_waiters)},
        {"max_concurrent_loads", std::to_string(c.max_concurrent_loads)},
        {"max_value_bytes", std::to_string(c.max_value_bytes)},
        {"breaker", fmt::format("window={} min_calls={} failure_rate={} open_for={} half_open_probes={}",
                                format_duration(c.breaker.window), c.breaker.min_calls, c.breaker.failure_rate,
                                format_duration(c.breaker.open_for), c.breaker.half_open_probes)},
    };
    for (auto& g : route_gauges(r)) p.push_back(std::move(g));
    return p;
}

pairs route_stats(const route_runtime& r) {
    pairs p;
#define HERDGUARD_ROUTE_STAT(counter, help) \
    p.emplace_back(#counter, std::to_string(r.counters.counter.load(std::memory_order_relaxed)));
    HERDGUARD_ROUTE_COUNTERS(HERDGUARD_ROUTE_STAT)
#undef HERDGUARD_ROUTE_STAT
    for (auto& g : route_gauges(r)) p.push_back(std::move(g));
    return p;
}

std::string routes_reply(const resp::reply_writer& w, const server_state& s) {
    std::string out;
    const auto& routes = s.herd.routes();
    resp::append_array_header(out, static_cast<std::int64_t>(routes.size()));
    for (const auto& r : routes) append_pairs(w, out, route_settings(*r));
    return out;
}

std::string stats_reply(const resp::reply_writer& w, const std::vector<std::string_view>& argv, const server_state& s) {
    std::string out;
    if (argv.size() == 3) {
        for (const auto& r : s.herd.routes()) {
            if (r->cfg.name == argv[2]) {
                append_pairs(w, out, route_stats(*r));
                return out;
            }
        }
        return resp::error_reply(fmt::format("ERR no such route '{}'", argv[2]));
    }
    pairs p;
    p.emplace_back("connected_clients", std::to_string(s.connected_clients.load(std::memory_order_relaxed)));
    for (const auto& c : s.summed_counters()) p.emplace_back(c.name, std::to_string(c.value));
    for (const auto& r : s.herd.routes())
        for (auto& [k, v] : route_stats(*r)) p.emplace_back(fmt::format("route:{}:{}", r->cfg.name, k), v);
    append_pairs(w, out, p);
    return out;
}

std::string flights_reply(const resp::reply_writer& w, const server_state& s) {
    std::string out;
    auto flights = s.herd.flights();
    resp::append_array_header(out, static_cast<std::int64_t>(flights.size()));
    for (const auto& f : flights) {
        append_pairs(w, out, {{"route", f.route},
                           {"key", f.key},
                           {"waiters", std::to_string(f.waiters)},
                           {"age_ms", std::to_string(f.age.count())},
                           {"kind", f.background ? "refresh" : "load"}});
    }
    return out;
}

std::string cluster_seeds(const config& c) {
    std::string out;
    for (const auto& a : c.redis.cluster.seeds) {
        if (!out.empty()) out += ',';
        out += a.to_string();
    }
    return out;
}

std::string config_reply(const resp::reply_writer& w, const server_state& s) {
    const auto& c = s.cfg;
    // Secrets are masked: this reply may be read by anyone who can reach the RESP port.
    pairs p = {
        {"source", c.source.empty() ? "(flags and env only)" : c.source},
        {"listen", c.listen_enabled ? c.listen.to_string() : "off"},
        {"threads", std::to_string(c.threads)},
        {"log_level", c.log_level},
        {"log_format", c.log_format},
        {"shutdown_timeout", format_duration(c.shutdown_timeout)},
        {"redis.address", c.redis.cluster.enabled() ? "(redis.cluster)" : c.redis.addr.to_string()},
        {"redis.cluster.seeds", cluster_seeds(c)},
        {"redis.cluster.refresh_interval", format_duration(c.redis.cluster.refresh_interval)},
        {"redis.cluster.max_redirects", std::to_string(c.redis.cluster.max_redirects)},
        {"redis.username", c.redis.username},
        {"redis.password", c.redis.password.empty() ? "" : "********"},
        {"redis.database", std::to_string(c.redis.database)},
        {"redis.connect_timeout", format_duration(c.redis.connect_timeout)},
        {"redis.command_timeout", format_duration(c.redis.command_timeout)},
        {"redis.connections_per_thread", std::to_string(c.redis.connections_per_thread)},
        {"redis.max_pending", std::to_string(c.redis.max_pending)},
        // TLS file paths are not secrets (the key's contents never leave the file).
        {"redis.tls.enabled", c.redis.tls.enabled ? "yes" : "no"},
        {"redis.tls.ca_file", c.redis.tls.ca_file},
        {"redis.tls.cert_file", c.redis.tls.cert_file},
        {"redis.tls.key_file", c.redis.tls.key_file},
        {"redis.tls.server_name", c.redis.tls.server_name},
        {"redis.tls.verify", c.redis.tls.verify ? "yes" : "no"},
        {"limits.max_clients", std::to_string(c.limits.max_clients)},
        {"limits.max_request_bytes", std::to_string(c.limits.max_request_bytes)},
        {"limits.max_array_length", std::to_string(c.limits.max_array_length)},
        {"limits.max_inline_bytes", std::to_string(c.limits.max_inline_bytes)},
        {"limits.client_output_buffer", std::to_string(c.limits.client_output_buffer)},
        {"limits.client_timeout", format_duration(c.limits.client_timeout)},
        {"admin.listen", c.admin.enabled ? c.admin.listen.to_string() : "off"},
        {"tls.listen", c.tls.enabled() ? c.tls.listen->to_string() : "off"},
        {"tls.cert_file", c.tls.cert_file},
        {"tls.key_file", c.tls.key_file},
        {"tls.ca_file", c.tls.ca_file},
        {"tls.auth_clients", c.tls.auth_clients == tls_auth_clients::yes        ? "yes"
                             : c.tls.auth_clients == tls_auth_clients::optional ? "optional"
                                                                                : "no"},
        {"tls.handshake_timeout", format_duration(c.tls.handshake_timeout)},
        {"auth.password", c.auth.password.empty() ? "" : "********"},
        {"auth.users", [&] {
             std::string names;
             for (const auto& u : c.auth.users) names += (names.empty() ? "" : ",") + u.name + ":********";
             return names;
         }()},
        {"routes", std::to_string(s.herd.routes().size())},
    };
    std::string out;
    append_pairs(w, out, p);
    return out;
}

// HOTKEYS [N]: the N (default 10) keys read most in the last second, across workers, with their
// estimated reads per second, and whether L1 holds them now.
std::string hotkeys_reply(const resp::reply_writer& w, const std::vector<std::string_view>& argv, const server_state& s) {
    std::int64_t n = 10;
    if (argv.size() == 3 && (!resp::parse_int64(argv[2], n) || n < 1 || n > static_cast<std::int64_t>(hot_key_sampler::capacity)))
        return resp::error_reply(fmt::format("ERR HOTKEYS count must be from 1 to {}", hot_key_sampler::capacity));
    const auto keys = s.hot_keys.top(static_cast<std::size_t>(n));
    std::string out;
    resp::append_array_header(out, static_cast<std::int64_t>(keys.size()));
    for (const auto& k : keys)
        append_pairs(w, out, {{"key", k.key}, {"reads_per_second", fmt::format("{:.0f}", k.reads_per_second)}, {"in_l1", s.herd.l1_holds(k.key) ? "yes" : "no"}});
    return out;
}

std::string help_reply() {
    static const std::vector<std::string_view> lines = {
        "HERDGUARD <subcommand>. Subcommands are:",
        "ROUTES",
        "    Each route with its settings, breaker state, waiters and loads in flight.",
        "STATS [<route>]",
        "    Every counter (proxy and routes), or one route's.",
        "FLIGHTS",
        "    Keys being loaded now: route, key, waiters, age, load or background refresh.",
        "CONFIG",
        "    The configuration in effect (secrets masked).",
        "HOTKEYS [<count>]",
        "    The keys read most in the last second (sampled, all keys), with reads per second.",
        "HELP",
        "    This help.",
    };
    std::string out;
    resp::append_array_header(out, static_cast<std::int64_t>(lines.size()));
    for (auto l : lines) resp::append_simple(out, l);
    return out;
}

}  // namespace

std::string herdguard_command(const std::vector<std::string_view>& argv, const server_state& state, int protocol) {
    const resp::reply_writer w(static_cast<resp::protocol_version>(protocol));
    if (argv.size() < 2) return resp::error_reply("ERR wrong number of arguments for 'herdguard' command");
    const auto sub = argv[1];
    if (iequals(sub, "routes") && argv.size() == 2) return routes_reply(w, state);
    if (iequals(sub, "stats") && argv.size() <= 3) return stats_reply(w, argv, state);
    if (iequals(sub, "flights") && argv.size() == 2) return flights_reply(w, state);
    if (iequals(sub, "config") && argv.size() == 2) return config_reply(w, state);
    if (iequals(sub, "hotkeys") && argv.size() <= 3) return hotkeys_reply(w, argv, state);
    if (iequals(sub, "help") && argv.size() == 2) return help_reply();
    return resp::error_reply(
        fmt::format("ERR unknown subcommand or wrong number of arguments for '{}'. Try HERDGUARD HELP.", sub));
}

}  // namespace herdguard
