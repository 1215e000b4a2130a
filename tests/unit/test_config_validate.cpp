// validate(): the built-in defaults pass; every range, route field and upstream template is
// checked and the error names the field (and the source); listeners must be IP literals, and
// limits have Redis's upper bounds.
#include <catch2/catch.hpp>
#include <cmath>
#include <functional>
#include <string>
#include <vector>

#include "config_test_support.h"
#include "herdguard/config/config.h"

using namespace herdguard;
using namespace herdguard::test;

namespace {

route_config valid_route() {
    route_config r;
    r.name = "products";
    r.match = "product:*";
    r.upstream = "http://127.0.0.1:8080/products/{1}";
    return r;
}

std::string validate_error(const config& cfg) {
    auto error = validate(cfg);
    return error ? error->message : "(accepted)";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// validate()

TEST_CASE("the built-in defaults validate", "[config]") {
    CHECK_FALSE(validate(config{}));
    config cfg;
    cfg.routes.push_back(valid_route());
    CHECK_FALSE(validate(cfg));
}

TEST_CASE("validate checks ranges and names the field", "[config][validate]") {
    struct rule {
        std::function<void(config&)> mutate;
        std::string expected;
    };
    const std::vector<rule> rules{
        {[](config& c) { c.threads = 0; }, "threads: must be between 1 and 256, got 0"},
        {[](config& c) { c.threads = 257; }, "threads: must be between 1 and 256, got 257"},
        {[](config& c) { c.log_level = "verbose"; },
         "log_level: must be one of trace, debug, info, warn, error, off, got \"verbose\""},
        {[](config& c) { c.log_format = "xml"; }, "log_format: must be text or json, got \"xml\""},
        {[](config& c) { c.shutdown_timeout = duration(0); },
         "shutdown_timeout: must be greater than 0, got 0s"},
        {[](config& c) { c.listen.port = 0; },
         "listen: port 0 out of range (1-65535) in \"127.0.0.1:0\""},
        {[](config& c) { c.redis.addr.host.clear(); }, "redis.address: missing host in \":6379\""},
        {[](config& c) { c.redis.database = -1; }, "redis.database: must not be negative, got -1"},
        {[](config& c) { c.redis.connect_timeout = duration(0); },
         "redis.connect_timeout: must be greater than 0, got 0s"},
        {[](config& c) { c.redis.command_timeout = duration(-5); },
         "redis.command_timeout: must be greater than 0, got -5ms"},
        {[](config& c) { c.redis.connections_per_thread = 0; },
         "redis.connections_per_thread: must be between 1 and 64, got 0"},
        {[](config& c) { c.redis.connections_per_thread = 65; },
         "redis.connections_per_thread: must be between 1 and 64, got 65"},
        {[](config& c) { c.redis.max_pending = 0; }, "redis.max_pending: must be greater than 0"},
        {[](config& c) { c.limits.max_clients = 0; }, "limits.max_clients: must be greater than 0"},
        {[](config& c) { c.limits.max_request_bytes = 0; },
         "limits.max_request_bytes: must be greater than 0"},
        {[](config& c) { c.limits.max_array_length = 0; },
         "limits.max_array_length: must be greater than 0"},
        {[](config& c) { c.limits.max_inline_bytes = 0; },
         "limits.max_inline_bytes: must be greater than 0"},
        {[](config& c) { c.limits.client_output_buffer = 0; },
         "limits.client_output_buffer: must be greater than 0"},
        {[](config& c) { c.limits.client_timeout = duration(-1); },
         "limits.client_timeout: must not be negative, got -1ms"},
        {[](config& c) { c.admin.listen = c.listen; },
         "admin.listen: same address as listen (127.0.0.1:6380)"},
        {[](config& c) { c.admin.listen = address{true, "/tmp/admin.sock", 0}; },
         "admin.listen: unix sockets are not supported here (use host:port)"},
    };
    for (const rule& r : rules) {
        config cfg;
        cfg.source = "cfg.yaml";
        r.mutate(cfg);
        CHECK(validate_error(cfg) == "cfg.yaml: " + r.expected);
    }
}

TEST_CASE("validate accepts the edges of each range", "[config][validate]") {
    config cfg;
    cfg.threads = 256;
    cfg.redis.database = 1000;  // not capped at 15: Redis can be configured with more
    cfg.redis.connections_per_thread = 64;
    cfg.limits.client_timeout = duration(0);  // 0 = no idle timeout
    cfg.admin.enabled = false;
    cfg.admin.listen = cfg.listen;  // irrelevant when admin is off
    for (const char* level : {"trace", "debug", "info", "warn", "error", "off"}) {
        cfg.log_level = level;
        CHECK_FALSE(validate(cfg));
    }
    cfg.log_format = "json";
    CHECK_FALSE(validate(cfg));
}

TEST_CASE("validate without a source says config", "[config][validate]") {
    config cfg;
    cfg.threads = 0;
    CHECK(validate_error(cfg) == "config: threads: must be between 1 and 256, got 0");
}

TEST_CASE("validate checks routes", "[config][validate]") {
    struct rule {
        std::function<void(route_config&)> mutate;
        std::string expected;
    };
    const std::vector<rule> rules{
        {[](route_config& r) { r.name.clear(); }, "routes[0].name: must not be empty"},
        {[](route_config& r) { r.match.clear(); }, "routes[0].match: must not be empty"},
        {[](route_config& r) { r.ttl = duration(0); },
         "routes[0].ttl: must be greater than 0, got 0s"},
        {[](route_config& r) { r.ttl_jitter = 1.0; },
         "routes[0].ttl_jitter: must be >= 0 and < 1, got 1"},
        {[](route_config& r) { r.ttl_jitter = -0.1; },
         "routes[0].ttl_jitter: must be >= 0 and < 1, got -0.1"},
        {[](route_config& r) { r.ttl_jitter = std::nan(""); },
         "routes[0].ttl_jitter: must be >= 0 and < 1, got nan"},
        {[](route_config& r) { r.early_refresh_beta = -1; },
         "routes[0].early_refresh.beta: must be from 0 (off) to 100 (1.0 is the paper's choice), got -1"},
        {[](route_config& r) { r.early_refresh_beta = std::nan(""); },
         "routes[0].early_refresh.beta: must be from 0 (off) to 100 (1.0 is the paper's choice), got nan"},
        {[](route_config& r) { r.stale_for = duration(-1); },
         "routes[0].stale_for: must not be negative, got -1ms"},
        {[](route_config& r) { r.lock_ttl = duration(0); },
         "routes[0].lock_ttl: must be greater than 0, got 0s"},
        {[](route_config& r) { r.load_timeout = duration(0); },
         "routes[0].load_timeout: must be greater than 0, got 0s"},
        {[](route_config& r) { r.wait_timeout = duration(0); },
         "routes[0].wait_timeout: must be greater than 0, got 0s"},
        {[](route_config& r) { r.max_waiters = 0; },
         "routes[0].max_waiters: must be greater than 0"},
        {[](route_config& r) { r.max_concurrent_loads = 0; },
         "routes[0].max_concurrent_loads: must be greater than 0"},
        {[](route_config& r) { r.max_value_bytes = 0; },
         "routes[0].max_value_bytes: must be greater than 0"},
        {[](route_config& r) { r.breaker.failure_rate = 0; },
         "routes[0].breaker.failure_rate: must be > 0 and <= 1, got 0"},
        {[](route_config& r) { r.breaker.failure_rate = 1.5; },
         "routes[0].breaker.failure_rate: must be > 0 and <= 1, got 1.5"},
        {[](route_config& r) { r.breaker.min_calls = 0; },
         "routes[0].breaker.min_calls: must be at least 1, got 0"},
        {[](route_config& r) { r.breaker.half_open_probes = 0; },
         "routes[0].breaker.half_open_probes: must be at least 1, got 0"},
        {[](route_config& r) { r.breaker.window = duration(0); },
         "routes[0].breaker.window: must be greater than 0, got 0s"},
        {[](route_config& r) { r.breaker.open_for = duration(0); },
         "routes[0].breaker.open_for: must be greater than 0, got 0s"},
    };
    for (const rule& r : rules) {
        config cfg;
        cfg.source = "cfg.yaml";
        cfg.routes.push_back(valid_route());
        r.mutate(cfg.routes[0]);
        CHECK(validate_error(cfg) == "cfg.yaml: " + r.expected);
    }

    SECTION("the edges are accepted") {
        config cfg;
        cfg.routes.push_back(valid_route());
        cfg.routes[0].ttl_jitter = 0;
        cfg.routes[0].breaker.failure_rate = 1.0;
        cfg.routes[0].stale_for = cfg.routes[0].stale_if_error = cfg.routes[0].negative_ttl =
            duration(0);
        CHECK_FALSE(validate(cfg));
    }
}

TEST_CASE("route names are unique", "[config][validate]") {
    config cfg;
    cfg.source = "cfg.yaml";
    cfg.routes = {valid_route(), valid_route(), valid_route()};
    cfg.routes[1].name = "other";
    CHECK(validate_error(cfg) ==
          "cfg.yaml: routes[2].name: duplicate route name \"products\" (also routes[0])");
}

TEST_CASE("validate checks the upstream template", "[config][validate]") {
    auto upstream_error = [](std::string match, std::string upstream) {
        config cfg;
        cfg.source = "cfg.yaml";
        route_config r = valid_route();
        r.match = std::move(match);
        r.upstream = std::move(upstream);
        cfg.routes.push_back(r);
        return validate_error(cfg);
    };
    const std::string p = "cfg.yaml: routes[0].upstream: ";

    SECTION("good templates") {
        CHECK(upstream_error("p:*", "http://h/p/{1}") == "(accepted)");
        CHECK(upstream_error("p:*", "http://h:8080/p/{1}") == "(accepted)");
        CHECK(upstream_error("p:*:*", "http://h/p/{2}/{1}?k={key}") == "(accepted)");
        CHECK(upstream_error("exact", "http://h/{key}") == "(accepted)");
        CHECK(upstream_error("exact", "http://h") == "(accepted)");
        CHECK(upstream_error("exact", "http://h?x=1") == "(accepted)");
        CHECK(upstream_error("p:*", "http://[::1]:80/{1}") == "(accepted)");
        CHECK(upstream_error("p:*", "http://[::1]/{1}") == "(accepted)");
        CHECK(upstream_error("p:*", "http://my_host.internal/p/{1}") == "(accepted)");
    }
    SECTION("scheme, host and port") {
        CHECK(upstream_error("p:*", "") == p + "must not be empty");
        CHECK(upstream_error("p:*", "https://h/{1}") ==
              p + "https is not supported, use http:// in \"https://h/{1}\"");
        CHECK(upstream_error("p:*", "h/{1}") == p + "must start with http://, got \"h/{1}\"");
        CHECK(upstream_error("p:*", "http:///p/{1}") == p + "missing host in \"http:///p/{1}\"");
        CHECK(upstream_error("p:*", "http://:80/p") == p + "missing host in \"http://:80/p\"");
        CHECK(upstream_error("p:*", "http://h:0/p") ==
              p + "port \"0\" must be a number from 1 to 65535 in \"http://h:0/p\"");
        CHECK(upstream_error("p:*", "http://h:65536/p") ==
              p + "port \"65536\" must be a number from 1 to 65535 in \"http://h:65536/p\"");
        CHECK(upstream_error("p:*", "http://h:/p") ==
              p + "port \"\" must be a number from 1 to 65535 in \"http://h:/p\"");
        CHECK(upstream_error("p:*", "http://h:x/p") ==
              p + "port \"x\" must be a number from 1 to 65535 in \"http://h:x/p\"");
        CHECK(upstream_error("p:*", "http://[::1/p") == p + "missing ']' in \"http://[::1/p\"");
        CHECK(upstream_error("p:*", "http://u@h/p") ==
              p + "invalid character '@' in host of \"http://u@h/p\"");
        CHECK(upstream_error("p:*", "http://{1}.h/p") ==
              p + "placeholders are only allowed after the host in \"http://{1}.h/p\"");
    }
    SECTION("placeholders") {
        CHECK(upstream_error("p:*", "http://h/p/{0}") ==
              p + "placeholder {0} out of range: match \"p:*\" has 1 capture(s)");
        CHECK(upstream_error("p:*", "http://h/p/{2}") ==
              p + "placeholder {2} out of range: match \"p:*\" has 1 capture(s)");
        CHECK(upstream_error("exact", "http://h/p/{1}") ==
              p + "placeholder {1} out of range: match \"exact\" has 0 capture(s)");
        CHECK(
            upstream_error("p:*", "http://h/p/{name}") ==
            p + "unknown placeholder {name} in \"http://h/p/{name}\" (use {key} or {1}, {2}, ...)");
        CHECK(upstream_error("p:*", "http://h/p/{}") ==
              p + "unknown placeholder {} in \"http://h/p/{}\" (use {key} or {1}, {2}, ...)");
        CHECK(upstream_error("p:*", "http://h/p/{-1}") ==
              p + "unknown placeholder {-1} in \"http://h/p/{-1}\" (use {key} or {1}, {2}, ...)");
        CHECK(upstream_error("p:*", "http://h/p/{1") == p + "unbalanced '{' in \"http://h/p/{1\"");
        CHECK(upstream_error("p:*", "http://h/p/{{1}") ==
              p + "unbalanced '{' in \"http://h/p/{{1}\"");
        CHECK(upstream_error("p:*", "http://h/p/1}") == p + "unbalanced '}' in \"http://h/p/1}\"");
        CHECK(upstream_error("p:*", "http://h/p/{1}}") ==
              p + "unbalanced '}' in \"http://h/p/{1}}\"");
    }
}

TEST_CASE("listeners must be IP literals: a host name would only fail at bind time", "[config]") {
    herdguard::config cfg;
    cfg.listen = *herdguard::parse_address("localhost:6380");
    auto err = herdguard::validate(cfg);
    REQUIRE(err);
    CHECK(err->message.find("listen: must be an IP address to bind") != std::string::npos);
    cfg.listen = *herdguard::parse_address("0.0.0.0:6380");
    cfg.admin.listen = *herdguard::parse_address("admin.local:9121");
    err = herdguard::validate(cfg);
    REQUIRE(err);
    CHECK(err->message.find("admin.listen: must be an IP address") != std::string::npos);
    cfg.admin.listen = *herdguard::parse_address("[::1]:9121");
    CHECK_FALSE(herdguard::validate(cfg));
    cfg.redis.addr = *herdguard::parse_address("redis.default.svc.cluster.local:6379");  // names connect fine
    CHECK_FALSE(herdguard::validate(cfg));
}

TEST_CASE("limits have Redis's upper bounds, so no limit can refuse every request", "[config]") {
    herdguard::config cfg;
    cfg.limits.max_array_length = 9223372036854775808ull;  // 2^63: found by fuzzing
    auto err = herdguard::validate(cfg);
    REQUIRE(err);
    CHECK(err->message.find("limits.max_array_length") != std::string::npos);
    cfg.limits.max_array_length = 2147483647;
    CHECK_FALSE(herdguard::validate(cfg));
    cfg.limits.max_request_bytes = (1ull << 32) + 1;
    REQUIRE(herdguard::validate(cfg));
    cfg.limits.max_request_bytes = 512ull << 20;
    cfg.limits.max_inline_bytes = (1ull << 30) + 1;
    REQUIRE(herdguard::validate(cfg));
}
