// Helpers the operations tests (test_operations_*.cpp) share: ops_stack (redis-server, the demo
// upstream and one herdguard with the admin listener on a free port), HERDGUARD replies as
// field/value maps, and /readyz.
#pragma once

#include <catch2/catch.hpp>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "harness.h"
#include "shared_helpers.h"

namespace herdguard::test {

// ---------------------------------------------------------------------------------------------
// Configs: the harness writes one route; these add what the ops tests need.

// The "  - name: ..." block of one route, as herdguard_config() writes it.
inline std::string route_yaml(std::uint16_t redis_port, const route_options& route) {
    const std::string all = herdguard_config(redis_port, route);
    const auto at = all.find("routes:\n");
    if (at == std::string::npos) throw harness_error("herdguard_config() wrote no routes:\n" + all);
    return all.substr(at + 8);
}

// Inserts `  password: "<pw>"` into the redis: block.
inline std::string with_redis_password(std::string yaml, std::uint16_t redis_port,
                                       const std::string& pw) {
    const std::string address = "redis:\n  address: 127.0.0.1:" + std::to_string(redis_port) + "\n";
    const auto at = yaml.find(address);
    if (at == std::string::npos) throw harness_error("no redis block in:\n" + yaml);
    yaml.insert(at + address.size(), "  password: \"" + pw + "\"\n");
    return yaml;
}

struct ops_options {
    std::string redis_password;                    // non-empty: redis-server --requirepass
    std::optional<milliseconds> shutdown_timeout;  // top-level shutdown_timeout
    int threads = 2;
};

// temp dir, redis-server, the demo upstream, one herdguard with the admin listener on a free
// port and the route (its upstream pointing at the demo upstream).
struct ops_stack {
    explicit ops_stack(route_options r = {}, ops_options o = {})
        : opts(std::move(o)), redis(dir, opts.redis_password), upstream(dir), route(std::move(r)) {
        if (route.upstream.empty()) route.upstream = upstream.url();
        herdguard_options hg;
        hg.threads = opts.threads;
        hg.admin = "auto";
        hg.config_yaml = config_with(route);
        proxy = std::make_unique<herdguard_proc>(dir, redis.port(), hg);
    }

    // A full config with these routes (the first one is `route` unless given), plus the options.
    std::string config_with(const route_options& first,
                            const std::vector<route_options>& more = {}) const {
        std::string yaml = herdguard_config(redis.port(), first);
        for (const auto& r : more) yaml += route_yaml(redis.port(), r);
        if (!opts.redis_password.empty())
            yaml = with_redis_password(yaml, redis.port(), opts.redis_password);
        if (opts.shutdown_timeout)
            yaml += "shutdown_timeout: " + std::to_string(opts.shutdown_timeout->count()) + "ms\n";
        return yaml;
    }

    std::uint16_t port() const { return proxy->port(); }
    std::uint16_t admin() const { return proxy->admin_port(); }
    client proxy_client(milliseconds timeout = 2s) { return client(port(), timeout); }
    std::string logs() {
        return "--- herdguard (" + proxy->describe_exit() + ")\n" + proxy->log_tail(3000) +
               "\n--- demo upstream\n" + upstream.log_tail(1500) + "\n";
    }

    ops_options opts;
    temp_dir dir;
    redis_server redis;
    demo_upstream upstream;
    route_options route;
    std::unique_ptr<herdguard_proc> proxy;
};

inline void require_alive(ops_stack& stack) {
    INFO(stack.logs());
    REQUIRE(stack.proxy->running());
}

// ---------------------------------------------------------------------------------------------
// HERDGUARD replies: flat field/value arrays.
inline std::map<std::string, std::string> pairs_of(const reply& r) {
    if (r.type != reply::kind::array || r.elements.size() % 2 != 0)
        throw harness_error("not a field/value array: " + r.canonical());
    std::map<std::string, std::string> out;
    for (std::size_t i = 0; i < r.elements.size(); i += 2)
        out[r.elements[i].str] = r.elements[i + 1].str;
    return out;
}

inline std::vector<std::map<std::string, std::string>> list_of_pairs(const reply& r) {
    if (r.type != reply::kind::array) throw harness_error("not an array: " + r.canonical());
    std::vector<std::map<std::string, std::string>> out;
    for (const auto& e : r.elements) out.push_back(pairs_of(e));
    return out;
}

inline int readyz_status(std::uint16_t admin_port, std::string* body = nullptr) {
    auto res = http_get(admin_port, "/readyz");
    if (body) *body = res.body;
    return res.status;
}

// A fresh herdguard answers PING before its shared Redis connections are up, and /readyz says
// 503 "redis unavailable" until one is: wait for 200 (bounded).
inline bool becomes_ready(std::uint16_t admin_port, milliseconds within = 3s) {
    return eventually([&] { return readyz_status(admin_port) == 200; }, within);
}

}  // namespace herdguard::test
