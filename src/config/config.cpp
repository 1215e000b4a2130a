// The configuration layer: YAML file, then env, then flags, then one validation pass.
//
// Inside this file a problem is reported by throwing field_error{field, problem}; the public
// entry points catch it (and every yaml-cpp exception) and return "SOURCE: field: problem".
// Throwing keeps the many small readers free of error plumbing, and it never crosses the API.
#include "herdguard/config/config.h"

#include "herdguard/util/upstream_url.h"
#include "herdguard/util/strings.h"

#include <arpa/inet.h>

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <system_error>
#include <type_traits>

namespace herdguard {
namespace {

struct field_error {
    std::string field;
    std::string problem;
};

[[noreturn]] void fail(std::string field, std::string problem) {
    throw field_error{std::move(field), std::move(problem)};
}

config_error make_error(std::string_view source, std::string_view field, std::string_view problem) {
    return config_error{fmt::format("{}: {}: {}", source, field, problem)};
}

// Which source set a field, when it was not the file (flags and env). Used to blame the right
// place when validation rejects a value: "command line: threads: ..." rather than the file.
using origin_map = std::map<std::string, std::string, std::less<>>;

// ---------------------------------------------------------------------------------------------
// Scalar conversions shared by the YAML reader and the flag/env overrides.

template <class Int>
Int to_integer(std::string_view text, const std::string& field) {
    Int value{};
    const char* last = text.data() + text.size();
    auto [end, ec] = std::from_chars(text.data(), last, value);
    if (ec == std::errc::result_out_of_range) {
        fail(field, fmt::format("integer out of range: \"{}\"", text));
    }
    if (text.empty() || end != last || ec != std::errc{}) {
        if (std::is_unsigned_v<Int> && !text.empty() && text.front() == '-') {
            fail(field, fmt::format("must not be negative, got \"{}\"", text));
        }
        fail(field, fmt::format("expected an integer, got \"{}\"", text));
    }
    return value;
}

double to_double(std::string_view text, const std::string& field) {
    double value = 0;
    const char* last = text.data() + text.size();
    auto [end, ec] = std::from_chars(text.data(), last, value);
    if (text.empty() || end != last || ec != std::errc{}) {
        fail(field, fmt::format("expected a number, got \"{}\"", text));
    }
    return value;
}

address to_address(std::string_view text, const std::string& field) {
    std::string why;
    auto addr = parse_address(text, &why);
    if (!addr) fail(field, why);
    return *addr;
}

// admin.listen / --admin / HERDGUARD_ADMIN: an address, or "off".
void set_admin_listen(admin_config& admin, std::string_view text, const std::string& field) {
    if (iequals(text, "off")) {
        admin.enabled = false;
        return;
    }
    std::string why;
    auto addr = parse_address(text, &why);
    if (!addr) fail(field, fmt::format("{} (or \"off\" to disable)", why));
    admin.listen = *addr;
    admin.enabled = true;
}

// listen / --listen / HERDGUARD_LISTEN: an address, or "off" (TLS clients only, on tls.listen).
void set_listen(config& cfg, std::string_view text, const std::string& field) {
    if (iequals(text, "off")) {
        cfg.listen_enabled = false;
        return;
    }
    cfg.listen = to_address(text, field);
    cfg.listen_enabled = true;
}

// ---------------------------------------------------------------------------------------------
// YAML reading: one function per section, each rejecting keys it does not know.

std::string join(const std::string& path, std::string_view key) {
    return path.empty() ? std::string(key) : fmt::format("{}.{}", path, key);
}

std::string describe(const YAML::Node& node) {
    switch (node.Type()) {
        case YAML::NodeType::Null:
            return "nothing";
        case YAML::NodeType::Sequence:
            return "a list";
        case YAML::NodeType::Map:
            return "a mapping";
        case YAML::NodeType::Scalar:
            return fmt::format("\"{}\"", node.Scalar());
        case YAML::NodeType::Undefined:
            break;
    }
    return "an undefined value";
}

const std::string& scalar(const YAML::Node& node, const std::string& field,
                          std::string_view expected) {
    if (node.IsScalar()) return node.Scalar();
    // "ttl:" with nothing after it is almost always an unfinished edit; do not read it as default.
    if (node.IsNull()) fail(field, fmt::format("missing value (expected {})", expected));
    fail(field, fmt::format("expected {}, got {}", expected, describe(node)));
}

std::string read_string(const YAML::Node& node, const std::string& field) {
    return scalar(node, field, "a string; write \"\" for an empty one");
}

template <class Int>
Int read_integer(const YAML::Node& node, const std::string& field) {
    return to_integer<Int>(scalar(node, field, "an integer"), field);
}

double read_double(const YAML::Node& node, const std::string& field) {
    return to_double(scalar(node, field, "a number"), field);
}

bool read_bool(const YAML::Node& node, const std::string& field) {
    const std::string& text = scalar(node, field, "true or false");
    if (iequals(text, "true") || iequals(text, "yes") || iequals(text, "on")) return true;
    if (iequals(text, "false") || iequals(text, "no") || iequals(text, "off")) return false;
    fail(field, fmt::format("expected true or false, got \"{}\"", text));
}

duration read_duration(const YAML::Node& node, const std::string& field) {
    std::string why;
    auto d = parse_duration(scalar(node, field, "a duration like \"2s\""), &why);
    if (!d) fail(field, why);
    return *d;
}

std::uint64_t read_size(const YAML::Node& node, const std::string& field) {
    std::string why;
    auto size = parse_size(scalar(node, field, "a size like \"64mb\""), &why);
    if (!size) fail(field, why);
    return *size;
}

address read_address(const YAML::Node& node, const std::string& field) {
    return to_address(scalar(node, field, "an address (host:port or unix:/path)"), field);
}

// Calls handle(key, value, field) for each entry; handle returns false for a key it does not
// know, which becomes "unknown field" so that a typo never silently keeps a default.
template <class Handler>
void read_mapping(const YAML::Node& node, const std::string& path, Handler&& handle) {
    const std::string where = path.empty() ? "(top level)" : path;
    if (node.IsNull()) return;  // "redis:" with nothing under it keeps the defaults
    if (!node.IsMap()) fail(where, fmt::format("expected a mapping, got {}", describe(node)));
    std::set<std::string, std::less<>> seen;
    for (const auto& entry : node) {
        if (!entry.first.IsScalar()) {
            fail(where, fmt::format("field names must be strings, got {}", describe(entry.first)));
        }
        const std::string& key = entry.first.Scalar();
        std::string field = join(path, key);
        // yaml-cpp keeps both copies of a repeated key; which one wins would be a guess.
        if (!seen.insert(key).second) fail(field, "duplicate field");
        if (!handle(key, entry.second, field)) fail(field, "unknown field");
    }
}

void read_redis_tls(const YAML::Node& node, const std::string& path, redis_tls_config& t) {
    read_mapping(node, path,
                 [&](const std::string& key, const YAML::Node& v, const std::string& f) {
                     if (key == "enabled")
                         t.enabled = read_bool(v, f);
                     else if (key == "ca_file")
                         t.ca_file = read_string(v, f);
                     else if (key == "cert_file")
                         t.cert_file = read_string(v, f);
                     else if (key == "key_file")
                         t.key_file = read_string(v, f);
                     else if (key == "server_name")
                         t.server_name = read_string(v, f);
                     else if (key == "verify")
                         t.verify = read_bool(v, f);
                     else
                         return false;
                     return true;
                 });
}

// A cluster node: TCP only (a cluster announces its nodes as host:port).
address read_cluster_seed(const YAML::Node& node, const std::string& field) {
    address addr = to_address(scalar(node, field, "a cluster node's host:port"), field);
    if (addr.is_unix) {
        fail(field, fmt::format("unix sockets are not supported for cluster nodes (use host:port), "
                                "got {}", addr.to_string()));
    }
    return addr;
}

// cluster: {seeds: [host:port, ...], refresh_interval: 10s, max_redirects: 5}. The block
// replaces the current one; given at all, it needs at least one seed.
void read_redis_cluster(const YAML::Node& node, const std::string& path, redis_cluster_config& c) {
    redis_cluster_config read;
    read_mapping(node, path, [&](const std::string& key, const YAML::Node& v, const std::string& f) {
        if (key == "seeds") {
            if (v.IsNull()) return true;  // reported below as missing
            if (!v.IsSequence())
                fail(f, fmt::format("expected a list of host:port addresses, got {}", describe(v)));
            for (const auto& item : v)
                read.seeds.push_back(read_cluster_seed(item, fmt::format("{}[{}]", f, read.seeds.size())));
        } else if (key == "refresh_interval") {
            read.refresh_interval = read_duration(v, f);
        } else if (key == "max_redirects") {
            read.max_redirects = read_integer<int>(v, f);
        } else {
            return false;
        }
        return true;
    });
    if (read.seeds.empty()) {
        fail(join(path, "seeds"),
             "missing: redis.cluster needs at least one node's host:port (any node of the cluster)");
    }
    c = std::move(read);
}

void read_redis(const YAML::Node& node, const std::string& path, redis_config& r) {
    read_mapping(node, path,
                 [&](const std::string& key, const YAML::Node& v, const std::string& f) {
                     if (key == "address")
                         r.addr = read_address(v, f);
                     else if (key == "username")
                         r.username = read_string(v, f);
                     else if (key == "password")
                         r.password = read_string(v, f);
                     else if (key == "database")
                         r.database = read_integer<int>(v, f);
                     else if (key == "connect_timeout")
                         r.connect_timeout = read_duration(v, f);
                     else if (key == "command_timeout")
                         r.command_timeout = read_duration(v, f);
                     else if (key == "connections_per_thread")
                         r.connections_per_thread = read_integer<int>(v, f);
                     else if (key == "max_pending")
                         r.max_pending = read_integer<std::uint64_t>(v, f);
                     else if (key == "tls")
                         read_redis_tls(v, f, r.tls);
                     else if (key == "cluster")
                         read_redis_cluster(v, f, r.cluster);
                     else
                         return false;
                     return true;
                 });
    // Both in one file: which Redis was meant would be a guess. (A default address does not
    // count, and --redis/HERDGUARD_REDIS are checked against the file in validate_with_origins.)
    if (node.IsMap() && node["address"] && node["cluster"]) {
        fail(join(path, "cluster"), "redis.address and redis.cluster are mutually exclusive: "
                                    "remove redis.address to front a cluster (its nodes come from seeds)");
    }
}

void read_limits(const YAML::Node& node, const std::string& path, limits_config& l) {
    read_mapping(node, path,
                 [&](const std::string& key, const YAML::Node& v, const std::string& f) {
                     if (key == "max_clients")
                         l.max_clients = read_integer<std::uint64_t>(v, f);
                     else if (key == "max_request_bytes")
                         l.max_request_bytes = read_size(v, f);
                     else if (key == "max_array_length")
                         l.max_array_length = read_integer<std::uint64_t>(v, f);
                     else if (key == "max_inline_bytes")
                         l.max_inline_bytes = read_size(v, f);
                     else if (key == "client_output_buffer")
                         l.client_output_buffer = read_size(v, f);
                     else if (key == "client_timeout")
                         l.client_timeout = read_duration(v, f);
                     else
                         return false;
                     return true;
                 });
}

tls_auth_clients read_auth_clients(const YAML::Node& node, const std::string& field) {
    // yes/no/optional as Redis spells them; YAML's true/false read the same way.
    const std::string& text = scalar(node, field, "no, optional or yes");
    if (iequals(text, "yes") || iequals(text, "true") || iequals(text, "on")) return tls_auth_clients::yes;
    if (iequals(text, "no") || iequals(text, "false") || iequals(text, "off")) return tls_auth_clients::no;
    if (iequals(text, "optional")) return tls_auth_clients::optional;
    fail(field, fmt::format("expected no, optional or yes, got \"{}\"", text));
}

void read_tls(const YAML::Node& node, const std::string& path, tls_config& t) {
    read_mapping(node, path,
                 [&](const std::string& key, const YAML::Node& v, const std::string& f) {
                     if (key == "listen")
                         t.listen = read_address(v, f);
                     else if (key == "cert_file")
                         t.cert_file = read_string(v, f);
                     else if (key == "key_file")
                         t.key_file = read_string(v, f);
                     else if (key == "ca_file")
                         t.ca_file = read_string(v, f);
                     else if (key == "auth_clients")
                         t.auth_clients = read_auth_clients(v, f);
                     else if (key == "handshake_timeout")
                         t.handshake_timeout = read_duration(v, f);
                     else
                         return false;
                     return true;
                 });
}

void read_admin(const YAML::Node& node, const std::string& path, admin_config& a) {
    read_mapping(node, path,
                 [&](const std::string& key, const YAML::Node& v, const std::string& f) {
                     if (key == "listen")
                         set_admin_listen(a, scalar(v, f, "an address or \"off\""), f);
                     else if (key == "hot_keys_in_metrics")
                         a.hot_keys_in_metrics = read_bool(v, f);
                     else
                         return false;
                     return true;
                 });
}

void read_auth(const YAML::Node& node, const std::string& path, auth_config& a) {
    read_mapping(node, path, [&](const std::string& key, const YAML::Node& v, const std::string& f) {
        if (key == "password") {
            a.password = read_string(v, f);
        } else if (key == "users") {
            if (v.IsNull()) return true;
            if (!v.IsSequence()) fail(f, fmt::format("expected a list of users, got {}", describe(v)));
            std::vector<auth_user> users;
            for (const auto& item : v) {
                auth_user u;
                const std::string up = fmt::format("{}[{}]", f, users.size());
                read_mapping(item, up, [&](const std::string& k, const YAML::Node& uv, const std::string& uf) {
                    if (k == "name") u.name = read_string(uv, uf);
                    else if (k == "password") u.password = read_string(uv, uf);
                    else return false;
                    return true;
                });
                users.push_back(std::move(u));
            }
            a.users = std::move(users);
        } else {
            return false;
        }
        return true;
    });
}

void read_breaker(const YAML::Node& node, const std::string& path, breaker_config& b) {
    read_mapping(node, path,
                 [&](const std::string& key, const YAML::Node& v, const std::string& f) {
                     if (key == "window")
                         b.window = read_duration(v, f);
                     else if (key == "min_calls")
                         b.min_calls = read_integer<int>(v, f);
                     else if (key == "failure_rate")
                         b.failure_rate = read_double(v, f);
                     else if (key == "open_for")
                         b.open_for = read_duration(v, f);
                     else if (key == "half_open_probes")
                         b.half_open_probes = read_integer<int>(v, f);
                     else
                         return false;
                     return true;
                 });
}

// early_refresh: {beta: 1.0}; the block alone turns it on with the paper's beta of 1.
void read_early_refresh(const YAML::Node& node, const std::string& path, route_config& r) {
    if (!node.IsMap()) fail(path, fmt::format("expected a mapping (beta: 1.0), got {}", describe(node)));
    r.early_refresh_beta = 1.0;
    read_mapping(node, path, [&](const std::string& key, const YAML::Node& v, const std::string& f) {
        if (key != "beta") return false;
        r.early_refresh_beta = read_double(v, f);
        return true;
    });
}

// l1: {max_bytes: 64mb, max_age: 5s, admit: hot, hot_reads_per_second: 100}; the block alone
// turns it on with these defaults.
void read_l1(const YAML::Node& node, const std::string& path, route_config& r) {
    if (!node.IsMap()) fail(path, fmt::format("expected a mapping (max_bytes: 64mb), got {}", describe(node)));
    r.l1_max_bytes = 64ull << 20;
    read_mapping(node, path, [&](const std::string& key, const YAML::Node& v, const std::string& f) {
        if (key == "max_bytes") {
            r.l1_max_bytes = read_size(v, f);
        } else if (key == "max_age") {
            r.l1_max_age = read_duration(v, f);
        } else if (key == "admit") {
            const std::string a = read_string(v, f);
            if (a != "hot" && a != "all") fail(f, fmt::format("expected hot or all, got \"{}\"", a));
            r.l1_admit_hot = a == "hot";
        } else if (key == "hot_reads_per_second") {
            r.l1_hot_reads_per_second = read_double(v, f);
        } else {
            return false;
        }
        return true;
    });
}

void read_route(const YAML::Node& node, const std::string& path, route_config& r) {
    if (!node.IsMap()) fail(path, fmt::format("expected a mapping, got {}", describe(node)));
    read_mapping(node, path,
                 [&](const std::string& key, const YAML::Node& v, const std::string& f) {
                     if (key == "name")
                         r.name = read_string(v, f);
                     else if (key == "match")
                         r.match = read_string(v, f);
                     else if (key == "upstream")
                         r.upstream = read_string(v, f);
                     else if (key == "ttl")
                         r.ttl = read_duration(v, f);
                     else if (key == "ttl_jitter")
                         r.ttl_jitter = read_double(v, f);
                     else if (key == "stale_for")
                         r.stale_for = read_duration(v, f);
                     else if (key == "stale_if_error")
                         r.stale_if_error = read_duration(v, f);
                     else if (key == "negative_ttl")
                         r.negative_ttl = read_duration(v, f);
                     else if (key == "error_ttl")
                         r.error_ttl = read_duration(v, f);
                     else if (key == "lock_ttl")
                         r.lock_ttl = read_duration(v, f);
                     else if (key == "load_timeout")
                         r.load_timeout = read_duration(v, f);
                     else if (key == "wait_timeout")
                         r.wait_timeout = read_duration(v, f);
                     else if (key == "max_waiters")
                         r.max_waiters = read_integer<std::uint64_t>(v, f);
                     else if (key == "max_concurrent_loads")
                         r.max_concurrent_loads = read_integer<std::uint64_t>(v, f);
                     else if (key == "max_value_bytes")
                         r.max_value_bytes = read_size(v, f);
                     else if (key == "protect")
                         r.protect = read_bool(v, f);
                     else if (key == "breaker")
                         read_breaker(v, f, r.breaker);
                     else if (key == "early_refresh")
                         read_early_refresh(v, f, r);
                     else if (key == "l1")
                         read_l1(v, f, r);
                     else
                         return false;
                     return true;
                 });
}

void read_routes(const YAML::Node& node, const std::string& path,
                 std::vector<route_config>& routes) {
    if (node.IsNull()) return;
    if (!node.IsSequence())
        fail(path, fmt::format("expected a list of routes, got {}", describe(node)));
    // The file's list replaces the current one: merging routes by position would be surprising.
    std::vector<route_config> read;
    for (const auto& item : node) {
        route_config r;
        read_route(item, fmt::format("{}[{}]", path, read.size()), r);
        read.push_back(std::move(r));
    }
    routes = std::move(read);
}

void read_config(const YAML::Node& root, config& cfg) {
    read_mapping(root, "", [&](const std::string& key, const YAML::Node& v, const std::string& f) {
        if (key == "listen")
            set_listen(cfg, scalar(v, f, "an address (host:port or unix:/path) or \"off\""), f);
        else if (key == "threads")
            cfg.threads = read_integer<int>(v, f);
        else if (key == "log_level")
            cfg.log_level = read_string(v, f);
        else if (key == "log_format")
            cfg.log_format = read_string(v, f);
        else if (key == "shutdown_timeout")
            cfg.shutdown_timeout = read_duration(v, f);
        else if (key == "redis")
            read_redis(v, f, cfg.redis);
        else if (key == "limits")
            read_limits(v, f, cfg.limits);
        else if (key == "admin")
            read_admin(v, f, cfg.admin);
        else if (key == "auth")
            read_auth(v, f, cfg.auth);
        else if (key == "tls")
            read_tls(v, f, cfg.tls);
        else if (key == "routes")
            read_routes(v, f, cfg.routes);
        else
            return false;
        return true;
    });
}

// Applies the file on top of `cfg` without validating, so that env and flags can still fix a
// value before validation runs. `cfg` is untouched on error.
std::optional<config_error> apply_yaml_text(const std::string& text, const std::string& source,
                                            config& cfg) {
    config next = cfg;
    next.source = source;
    try {
        read_config(YAML::Load(text), next);
    } catch (const field_error& e) {
        return make_error(source, e.field, e.problem);
    } catch (const YAML::Exception& e) {
        if (e.mark.is_null()) return make_error(source, "yaml", e.msg);
        return make_error(
            source, fmt::format("line {}, column {}", e.mark.line + 1, e.mark.column + 1), e.msg);
    } catch (const std::exception& e) {
        return make_error(source, "yaml", e.what());
    }
    cfg = std::move(next);
    return std::nullopt;
}

std::optional<config_error> apply_yaml_file(const std::string& path, config& cfg) {
    // stdio rather than ifstream: it reliably leaves errno set, which we report.
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"),
                                                         &std::fclose);
    if (!file) {
        return config_error{
            fmt::format("{}: cannot open: {}", path, std::generic_category().message(errno))};
    }
    std::string text;
    std::array<char, 4096> buffer;
    std::size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), file.get())) > 0)
        text.append(buffer.data(), n);
    if (std::ferror(file.get())) {
        // A directory opens fine on Linux and only fails here, with EISDIR.
        return config_error{
            fmt::format("{}: cannot read: {}", path, std::generic_category().message(errno))};
    }
    return apply_yaml_text(text, path, cfg);
}

// ---------------------------------------------------------------------------------------------
// Validation: ranges and cross-field rules, each failure naming the dotted field.

void check_positive(duration d, const std::string& field) {
    if (d.count() <= 0)
        fail(field, fmt::format("must be greater than 0, got {}", format_duration(d)));
}

void check_not_negative(duration d, const std::string& field) {
    if (d.count() < 0) fail(field, fmt::format("must not be negative, got {}", format_duration(d)));
}

void check_nonzero(std::uint64_t value, const std::string& field) {
    if (value == 0) fail(field, "must be greater than 0");
}

void check_at_most(std::uint64_t value, std::uint64_t max, const std::string& field) {
    if (value > max) fail(field, fmt::format("must be at most {}, got {}", max, value));
}

void check_range(long long value, long long lo, long long hi, const std::string& field) {
    if (value < lo || value > hi)
        fail(field, fmt::format("must be between {} and {}, got {}", lo, hi, value));
}

// Addresses from the file were parsed already; this catches ones built in code (port 0, ...).
void check_address(const address& addr, const std::string& field) {
    std::string why;
    if (!parse_address(addr.to_string(), &why)) fail(field, why);
}

// Listeners bind an IP literal (or a unix socket): a host name would pass here and fail at
// startup, so it is refused with the reason now. (Connect addresses may be names.)
void check_listen_address(const address& addr, const std::string& field) {
    check_address(addr, field);
    if (addr.is_unix) return;
    unsigned char buf[sizeof(in6_addr)];
    if (inet_pton(AF_INET, addr.host.c_str(), buf) != 1 && inet_pton(AF_INET6, addr.host.c_str(), buf) != 1) {
        fail(field, fmt::format("must be an IP address to bind (like 127.0.0.1 or 0.0.0.0), got host name \"{}\"",
                                addr.host));
    }
}

// One parser for --check and the loader (util/upstream_url.h).
void check_upstream(const std::string& url, const std::string& match, const std::string& field) {
    std::string problem;
    if (!parse_upstream_url(url, &problem, match)) fail(field, problem);
}

void check_breaker(const breaker_config& b, const std::string& path) {
    check_positive(b.window, path + ".window");
    if (b.min_calls < 1)
        fail(path + ".min_calls", fmt::format("must be at least 1, got {}", b.min_calls));
    // Written so that NaN fails too.
    if (!(b.failure_rate > 0.0 && b.failure_rate <= 1.0)) {
        fail(path + ".failure_rate", fmt::format("must be > 0 and <= 1, got {}", b.failure_rate));
    }
    check_positive(b.open_for, path + ".open_for");
    if (b.half_open_probes < 1) {
        fail(path + ".half_open_probes",
             fmt::format("must be at least 1, got {}", b.half_open_probes));
    }
}

void check_route(const route_config& r, const std::string& path) {
    if (r.name.empty()) fail(path + ".name", "must not be empty");
    if (r.match.empty()) fail(path + ".match", "must not be empty");
    check_upstream(r.upstream, r.match, path + ".upstream");
    check_positive(r.ttl, path + ".ttl");
    if (!(r.ttl_jitter >= 0.0 && r.ttl_jitter < 1.0)) {
        fail(path + ".ttl_jitter", fmt::format("must be >= 0 and < 1, got {}", r.ttl_jitter));
    }
    check_not_negative(r.stale_for, path + ".stale_for");
    check_not_negative(r.stale_if_error, path + ".stale_if_error");
    check_not_negative(r.negative_ttl, path + ".negative_ttl");
    check_not_negative(r.error_ttl, path + ".error_ttl");
    check_positive(r.lock_ttl, path + ".lock_ttl");
    check_positive(r.load_timeout, path + ".load_timeout");
    check_positive(r.wait_timeout, path + ".wait_timeout");
    check_nonzero(r.max_waiters, path + ".max_waiters");
    check_nonzero(r.max_concurrent_loads, path + ".max_concurrent_loads");
    check_nonzero(r.max_value_bytes, path + ".max_value_bytes");
    check_breaker(r.breaker, path + ".breaker");
    if (!(r.early_refresh_beta >= 0.0 && r.early_refresh_beta <= 100.0)) {
        fail(path + ".early_refresh.beta",
             fmt::format("must be from 0 (off) to 100 (1.0 is the paper's choice), got {}", r.early_refresh_beta));
    }
    if (r.l1_max_bytes > 0) {
        if (r.l1_max_bytes < 64 * 1024) fail(path + ".l1.max_bytes", "must be at least 64kb (or the l1 block left out)");
        check_positive(r.l1_max_age, path + ".l1.max_age");
        if (!(r.l1_hot_reads_per_second >= 0.0))
            fail(path + ".l1.hot_reads_per_second", "must not be negative");
    }
}

// Cluster mode (issue 13): its own ranges, and what a cluster cannot do.
void check_redis_cluster(const config& cfg) {
    const redis_cluster_config& c = cfg.redis.cluster;
    if (!c.enabled()) return;
    for (std::size_t i = 0; i < c.seeds.size(); ++i) {
        const std::string field = fmt::format("redis.cluster.seeds[{}]", i);
        if (c.seeds[i].is_unix)
            fail(field, "unix sockets are not supported for cluster nodes (use host:port)");
        check_address(c.seeds[i], field);
    }
    check_positive(c.refresh_interval, "redis.cluster.refresh_interval");
    check_range(c.max_redirects, 1, 100, "redis.cluster.max_redirects");
    if (cfg.redis.database != 0) {
        fail("redis.database", fmt::format("must be 0 with redis.cluster (Redis Cluster has only "
                                           "database 0), got {}", cfg.redis.database));
    }
    for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
        if (cfg.routes[i].l1_max_bytes > 0) {
            fail(fmt::format("routes[{}].l1", i),
                 "l1 is not supported with redis.cluster yet: tracking would have to follow every "
                 "master (remove the l1 block)");
        }
    }
}

void check_auth(const auth_config& a) {
    for (std::size_t i = 0; i < a.users.size(); ++i) {
        const auto path = fmt::format("auth.users[{}]", i);
        if (a.users[i].name.empty()) fail(path + ".name", "must not be empty");
        if (a.users[i].password.empty()) fail(path + ".password", "must not be empty");
        for (std::size_t j = 0; j < i; ++j)
            if (a.users[j].name == a.users[i].name)
                fail(path + ".name", fmt::format("duplicate user \"{}\"", a.users[i].name));
    }
}

// Certificates and keys are read at startup; a path that cannot be read is reported here, by
// field, so that --check catches it too (the PEM contents are checked when the TLS contexts are
// built, which --check also does).
void check_readable_file(const std::string& path, const std::string& field) {
    std::unique_ptr<std::FILE, int (*)(std::FILE*)> file(std::fopen(path.c_str(), "rb"), &std::fclose);
    if (!file) {
        fail(field, fmt::format("cannot open \"{}\": {}", path, std::generic_category().message(errno)));
    }
    char byte = 0;
    if (std::fread(&byte, 1, 1, file.get()) != 1) {
        // A directory opens fine on Linux and only fails here, with EISDIR.
        if (std::ferror(file.get())) {
            fail(field, fmt::format("cannot read \"{}\": {}", path, std::generic_category().message(errno)));
        }
        fail(field, fmt::format("\"{}\" is empty", path));
    }
}

void require_file(const std::string& path, const std::string& field, std::string_view what) {
    if (path.empty()) fail(field, fmt::format("missing ({})", what));
    check_readable_file(path, field);
}

void check_client_tls(const config& cfg) {
    const tls_config& t = cfg.tls;
    if (!cfg.listen_enabled && !t.enabled()) {
        fail("listen", "is off but tls.listen is not set: no listener would accept clients");
    }
    if (!t.enabled()) {
        if (!t.cert_file.empty() || !t.key_file.empty() || !t.ca_file.empty()) {
            fail("tls.listen", "missing: TLS towards clients needs its own listener address "
                               "(like Redis's tls-port); or remove the tls section");
        }
        return;
    }
    check_listen_address(*t.listen, "tls.listen");
    if (cfg.listen_enabled && *t.listen == cfg.listen) {
        fail("tls.listen", fmt::format("same address as listen ({}); use listen: off for TLS only",
                                       cfg.listen.to_string()));
    }
    if (cfg.admin.enabled && *t.listen == cfg.admin.listen) {
        fail("tls.listen", fmt::format("same address as admin.listen ({})", cfg.admin.listen.to_string()));
    }
    require_file(t.cert_file, "tls.cert_file", "the server certificate, PEM");
    require_file(t.key_file, "tls.key_file", "the certificate's private key, PEM");
    if (t.auth_clients != tls_auth_clients::no && t.ca_file.empty()) {
        fail("tls.ca_file",
             fmt::format("missing: needed to verify client certificates with tls.auth_clients {} "
                         "(yes is the default, as in Redis); set tls.auth_clients: no to accept "
                         "clients without a certificate",
                         t.auth_clients == tls_auth_clients::yes ? "yes" : "optional"));
    }
    if (!t.ca_file.empty()) check_readable_file(t.ca_file, "tls.ca_file");
    check_positive(t.handshake_timeout, "tls.handshake_timeout");
}

void check_redis_tls(const redis_config& r) {
    const redis_tls_config& t = r.tls;
    if (!t.enabled) {
        // A CA or a server name without enabled: true is almost always a forgotten switch, and
        // silently talking plain text to Redis would be the worst way to find out.
        const std::pair<const std::string*, const char*> set_fields[] = {
            {&t.ca_file, "ca_file"}, {&t.cert_file, "cert_file"}, {&t.key_file, "key_file"},
            {&t.server_name, "server_name"}};
        for (const auto& [value, name] : set_fields) {
            if (!value->empty())
                fail("redis.tls.enabled", fmt::format("is false but redis.tls.{} is set; set enabled: true", name));
        }
        return;
    }
    if (r.addr.is_unix) {
        fail("redis.tls.enabled", fmt::format("TLS needs a TCP redis.address, got {}", r.addr.to_string()));
    }
    if (!t.cert_file.empty() || !t.key_file.empty()) {
        require_file(t.cert_file, "redis.tls.cert_file", "the client certificate, PEM; needed with key_file");
        require_file(t.key_file, "redis.tls.key_file", "the client certificate's private key, PEM");
    }
    if (!t.ca_file.empty()) check_readable_file(t.ca_file, "redis.tls.ca_file");
    for (char c : t.server_name) {
        if (!is_host_char(c, false) && c != ':') {
            fail("redis.tls.server_name", fmt::format("invalid character '{}' in \"{}\"", c, t.server_name));
        }
    }
}

// Every top-level setting's check, in the order of the config file: a list more than logic,
// longer than 60 lines on purpose.
void check_config(const config& cfg) {
    if (cfg.listen_enabled) check_listen_address(cfg.listen, "listen");
    check_auth(cfg.auth);
    check_range(cfg.threads, 1, 256, "threads");
    constexpr std::array<std::string_view, 6> levels{"trace", "debug", "info",
                                                     "warn",  "error", "off"};
    if (std::find(levels.begin(), levels.end(), cfg.log_level) == levels.end()) {
        fail("log_level",
             fmt::format("must be one of trace, debug, info, warn, error, off, got \"{}\"",
                         cfg.log_level));
    }
    if (cfg.log_format != "text" && cfg.log_format != "json") {
        fail("log_format", fmt::format("must be text or json, got \"{}\"", cfg.log_format));
    }
    check_positive(cfg.shutdown_timeout, "shutdown_timeout");

    const redis_config& r = cfg.redis;
    check_address(r.addr, "redis.address");
    // Not capped at 15: Redis's "databases" setting can be raised.
    if (r.database < 0)
        fail("redis.database", fmt::format("must not be negative, got {}", r.database));
    check_positive(r.connect_timeout, "redis.connect_timeout");
    check_positive(r.command_timeout, "redis.command_timeout");
    check_range(r.connections_per_thread, 1, 64, "redis.connections_per_thread");
    check_nonzero(r.max_pending, "redis.max_pending");
    check_redis_tls(r);
    check_redis_cluster(cfg);

    const limits_config& l = cfg.limits;
    check_nonzero(l.max_clients, "limits.max_clients");
    // Upper bounds as Redis has them (proto-max-bulk-len, INT_MAX elements): beyond them the
    // parser's signed comparisons would turn a limit into a refusal of every request.
    check_nonzero(l.max_request_bytes, "limits.max_request_bytes");
    check_nonzero(l.max_array_length, "limits.max_array_length");
    check_nonzero(l.max_inline_bytes, "limits.max_inline_bytes");
    check_at_most(l.max_request_bytes, 4ull << 30, "limits.max_request_bytes");
    check_at_most(l.max_array_length, 2147483647, "limits.max_array_length");
    check_at_most(l.max_inline_bytes, 1ull << 30, "limits.max_inline_bytes");
    check_nonzero(l.client_output_buffer, "limits.client_output_buffer");
    check_not_negative(l.client_timeout, "limits.client_timeout");  // 0 = no idle timeout

    if (cfg.admin.enabled) {
        // The admin server binds TCP only; accepting a socket path here passed --check and then
        // failed at startup.
        if (cfg.admin.listen.is_unix) fail("admin.listen", "unix sockets are not supported here (use host:port)");
        check_listen_address(cfg.admin.listen, "admin.listen");
        if (cfg.listen_enabled && cfg.admin.listen == cfg.listen) {
            fail("admin.listen",
                 fmt::format("same address as listen ({})", cfg.listen.to_string()));
        }
    }
    check_client_tls(cfg);

    std::map<std::string, std::size_t, std::less<>> names;
    for (std::size_t i = 0; i < cfg.routes.size(); ++i) {
        const std::string path = fmt::format("routes[{}]", i);
        check_route(cfg.routes[i], path);
        auto [it, inserted] = names.emplace(cfg.routes[i].name, i);
        if (!inserted) {
            fail(path + ".name", fmt::format("duplicate route name \"{}\" (also routes[{}])",
                                             it->first, it->second));
        }
    }
}

std::optional<config_error> validate_with_origins(const config& cfg, const origin_map& origins) {
    try {
        // Only a flag or env var can set the address beside the file's cluster (the file alone
        // is checked when read); the error is blamed on that origin below.
        if (cfg.redis.cluster.enabled() && origins.contains("redis.address")) {
            fail("redis.address",
                 fmt::format("is set, but {} has redis.cluster: redis.address and redis.cluster "
                             "are mutually exclusive (drop --redis/HERDGUARD_REDIS to front the "
                             "cluster)",
                             cfg.source.empty() ? "the config" : cfg.source));
        }
        check_config(cfg);
    } catch (const field_error& e) {
        auto it = origins.find(e.field);
        std::string_view source = it != origins.end()  ? std::string_view(it->second)
                                  : cfg.source.empty() ? std::string_view("config")
                                                       : std::string_view(cfg.source);
        return make_error(source, e.field, e.problem);
    } catch (const std::exception& e) {
        return make_error(cfg.source.empty() ? "config" : cfg.source, "validate", e.what());
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------
// Command line and environment.

class process_env final : public env_lookup {
  public:
    std::optional<std::string> get(const std::string& name) const override {
        const char* value = std::getenv(name.c_str());
        if (!value) return std::nullopt;
        return std::string(value);
    }
};

// One row per overridable setting, so a flag, its env var and its help text cannot drift apart.
struct setting {
    const char* flag;  // nullptr: env only (secrets do not belong in argv, where ps shows them)
    const char* env;
    const char* field;
    const char* type_name;
    const char* help;
};

constexpr std::array<setting, 9> settings{{
    {"--listen", "HERDGUARD_LISTEN", "listen", "ADDR|off",
     "RESP listener: host:port, [v6]:port or unix:/path; off with --tls-listen for TLS only"},
    {"--tls-listen", "HERDGUARD_TLS_LISTEN", "tls.listen", "ADDR",
     "TLS RESP listener (needs tls.cert_file and tls.key_file in the config file)"},
    {"--redis", "HERDGUARD_REDIS", "redis.address", "ADDR",
     "Redis to cache in: host:port or unix:/path"},
    {"--threads", "HERDGUARD_THREADS", "threads", "N", "worker threads (1-256)"},
    {"--log-level", "HERDGUARD_LOG_LEVEL", "log_level", "LEVEL",
     "trace, debug, info, warn, error or off"},
    {"--log-format", "HERDGUARD_LOG_FORMAT", "log_format", "FORMAT", "text or json"},
    {"--admin", "HERDGUARD_ADMIN", "admin.listen", "ADDR|off",
     "admin HTTP listener (metrics), or off"},
    {nullptr, "HERDGUARD_REDIS_PASSWORD", "redis.password", "", "Redis AUTH password"},
    {nullptr, "HERDGUARD_AUTH_PASSWORD", "auth.password", "", "password clients must AUTH with"},
}};

void apply_setting(config& cfg, std::string_view field, const std::string& value) {
    const std::string f(field);
    if (field == "listen")
        set_listen(cfg, value, f);
    else if (field == "tls.listen")
        cfg.tls.listen = to_address(value, f);
    else if (field == "redis.address")
        cfg.redis.addr = to_address(value, f);
    else if (field == "threads")
        cfg.threads = to_integer<int>(value, f);
    else if (field == "log_level")
        cfg.log_level = value;
    else if (field == "log_format")
        cfg.log_format = value;
    else if (field == "admin.listen")
        set_admin_listen(cfg.admin, value, f);
    else if (field == "redis.password")
        cfg.redis.password = value;
    else if (field == "auth.password")
        cfg.auth.password = value;
}

std::string help_footer() {
    std::string footer =
        "Environment (flags override env, env overrides the file):\n"
        "  HERDGUARD_CONFIG          same as --config\n";
    for (const setting& s : settings) {
        footer += fmt::format("  {:<25} {}\n", s.env,
                              s.flag ? fmt::format("same as {}", s.flag) : std::string(s.help));
    }
    return footer;
}

}  // namespace

std::optional<config_error> load_config_text(const std::string& text, const std::string& source,
                                             config& cfg) {
    config next = cfg;
    if (auto error = apply_yaml_text(text, source, next)) return error;
    if (auto error = validate_with_origins(next, {})) return error;
    cfg = std::move(next);
    return std::nullopt;
}

std::optional<config_error> load_config_file(const std::string& path, config& cfg) {
    config next = cfg;
    if (auto error = apply_yaml_file(path, next)) return error;
    if (auto error = validate_with_origins(next, {})) return error;
    cfg = std::move(next);
    return std::nullopt;
}

std::optional<config_error> validate(const config& cfg) {
    return validate_with_origins(cfg, {});
}

// Longer than 60 lines on purpose: one declaration per flag, then one precedence rule per
// setting, read as the table the README documents; splitting it would scatter that table.
std::variant<command_line, config_error> parse_command_line(int argc, const char* const* argv,
                                                            const env_lookup* env) {
    static const process_env process_environment;
    if (!env) env = &process_environment;
    // An empty variable counts as unset: compose files often pass "FOO=" for "not configured".
    auto lookup = [env](const std::string& name) -> std::optional<std::string> {
        auto value = env->get(name);
        if (value && value->empty()) return std::nullopt;
        return value;
    };

    try {
        CLI::App app{"herdguard: a Redis-protocol caching proxy", "herdguard"};
        app.footer(help_footer());
        std::string config_path;
        bool check_only = false;
        bool show_version = false;
        CLI::Option* config_option =
            app.add_option("--config", config_path, "YAML config file (see config/herdguard.yaml)")
                ->type_name("FILE");
        app.add_flag("--check", check_only, "validate the configuration and exit");
        std::array<std::string, settings.size()> values;
        std::array<CLI::Option*, settings.size()> options{};
        for (std::size_t i = 0; i < settings.size(); ++i) {
            if (!settings[i].flag) continue;
            options[i] = app.add_option(settings[i].flag, values[i], settings[i].help)
                             ->type_name(settings[i].type_name);
        }
        app.add_flag("--version", show_version, "print the version and exit");

        static const char* const fallback_argv[] = {"herdguard", nullptr};
        if (argc < 1 || !argv) {
            argc = 1;
            argv = fallback_argv;
        }
        try {
            app.parse(argc, argv);
        } catch (const CLI::CallForHelp&) {
            std::cout << app.help();
            command_line result;
            result.show_help = true;
            return result;
        } catch (const CLI::ParseError& e) {
            return config_error{fmt::format("command line: {} (see --help)", e.what())};
        }

        command_line result;
        result.check_only = check_only;
        if (show_version) {
            // Nothing else matters: --version must work even next to a broken config.
            result.show_version = true;
            return result;
        }

        std::optional<std::string> path;
        if (config_option->count() > 0)
            path = config_path;
        else
            path = lookup("HERDGUARD_CONFIG");
        if (check_only && !path) {
            return config_error{
                "command line: --check: needs a config file (--config FILE or HERDGUARD_CONFIG)"};
        }
        if (path) {
            if (auto error = apply_yaml_file(*path, result.cfg)) return *error;
            result.cfg.source = *path;
        }

        origin_map origins;
        auto apply = [&](const setting& s, const std::string& value,
                         std::string source) -> std::optional<config_error> {
            try {
                apply_setting(result.cfg, s.field, value);
            } catch (const field_error& e) {
                return make_error(source, e.field, e.problem);
            }
            origins[s.field] = std::move(source);
            return std::nullopt;
        };
        // Env first, then flags: the later write wins, which gives flag > env > file.
        for (const setting& s : settings) {
            if (auto value = lookup(s.env)) {
                if (auto error = apply(s, *value, fmt::format("env {}", s.env))) return *error;
            }
        }
        for (std::size_t i = 0; i < settings.size(); ++i) {
            if (options[i] && options[i]->count() > 0) {
                if (auto error = apply(settings[i], values[i], "command line")) return *error;
            }
        }

        if (auto error = validate_with_origins(result.cfg, origins)) return *error;
        return result;
    } catch (const std::exception& e) {
        return config_error{fmt::format("command line: {}", e.what())};
    }
}

}  // namespace herdguard
