// The config file (herdguard::load_config_text, load_config_file): every field read from YAML,
// defaults for absent fields, errors that always read "FILE: field: problem" (unknown keys, values
// of the wrong shape, YAML syntax, validation), and the shipped config/herdguard.yaml, which must
// load, validate and document the defaults.
#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "config_test_support.h"
#include "herdguard/config/config.h"

using namespace herdguard;
using namespace herdguard::test;

namespace {

constexpr const char* full_yaml = R"(
listen: "[::1]:7000"
threads: 4
log_level: debug
log_format: json
shutdown_timeout: 30s
redis:
  address: unix:/run/redis.sock
  username: cache
  password: s3cret
  database: 3
  connect_timeout: 250ms
  command_timeout: 2s
  connections_per_thread: 2
  max_pending: 1000
limits:
  max_clients: 50
  max_request_bytes: 1mb
  max_array_length: 100
  max_inline_bytes: 4096
  client_output_buffer: 2GB
  client_timeout: 5m
admin:
  listen: 0.0.0.0:9000
  hot_keys_in_metrics: true
routes:
  - name: users
    match: "user:*:*"
    upstream: "http://users.internal:9000/u/{1}/{2}?key={key}"
    ttl: 2h
    ttl_jitter: 0
    early_refresh: {beta: 2.5}
    stale_for: 0s
    stale_if_error: 1m
    negative_ttl: 1s
    error_ttl: 250ms
    lock_ttl: 3s
    load_timeout: 1s
    wait_timeout: 1500ms
    max_waiters: 7
    max_concurrent_loads: 8
    max_value_bytes: 1kb
    protect: false
    breaker:
      window: 1m
      min_calls: 20
      failure_rate: 0.25
      open_for: 30s
      half_open_probes: 3
  - name: plain
    match: "plain"
    upstream: http://[::1]/plain
)";

}  // namespace

// ---------------------------------------------------------------------------------------------
// Defaults and reading the file

TEST_CASE("every field is read from YAML", "[config]") {
    config cfg = load_ok(full_yaml);
    CHECK(cfg.source == "cfg.yaml");
    CHECK(cfg.listen == address{false, "::1", 7000});
    CHECK(cfg.threads == 4);
    CHECK(cfg.log_level == "debug");
    CHECK(cfg.log_format == "json");
    CHECK(cfg.shutdown_timeout == duration(30'000));

    CHECK(cfg.redis.addr == address{true, "/run/redis.sock", 0});
    CHECK(cfg.redis.username == "cache");
    CHECK(cfg.redis.password == "s3cret");
    CHECK(cfg.redis.database == 3);
    CHECK(cfg.redis.connect_timeout == duration(250));
    CHECK(cfg.redis.command_timeout == duration(2000));
    CHECK(cfg.redis.connections_per_thread == 2);
    CHECK(cfg.redis.max_pending == 1000u);

    CHECK(cfg.limits.max_clients == 50u);
    CHECK(cfg.limits.max_request_bytes == 1u << 20);
    CHECK(cfg.limits.max_array_length == 100u);
    CHECK(cfg.limits.max_inline_bytes == 4096u);  // a size given as a YAML integer
    CHECK(cfg.limits.client_output_buffer == 2ull << 30);
    CHECK(cfg.limits.client_timeout == duration(300'000));

    CHECK(cfg.admin.enabled);
    CHECK(cfg.admin.listen == address{false, "0.0.0.0", 9000});
    CHECK(cfg.admin.hot_keys_in_metrics);

    REQUIRE(cfg.routes.size() == 2);
    const route_config& r = cfg.routes[0];
    CHECK(r.name == "users");
    CHECK(r.match == "user:*:*");
    CHECK(r.upstream == "http://users.internal:9000/u/{1}/{2}?key={key}");
    CHECK(r.ttl == duration(7'200'000));
    CHECK(r.ttl_jitter == 0.0);
    CHECK(r.early_refresh_beta == 2.5);
    CHECK(r.stale_for == duration(0));
    CHECK(r.stale_if_error == duration(60'000));
    CHECK(r.negative_ttl == duration(1000));
    CHECK(r.error_ttl == duration(250));
    CHECK(r.lock_ttl == duration(3000));
    CHECK(r.load_timeout == duration(1000));
    CHECK(r.wait_timeout == duration(1500));
    CHECK(r.max_waiters == 7u);
    CHECK(r.max_concurrent_loads == 8u);
    CHECK(r.max_value_bytes == 1024u);
    CHECK_FALSE(r.protect);
    CHECK(r.breaker.window == duration(60'000));
    CHECK(r.breaker.min_calls == 20);
    CHECK(r.breaker.failure_rate == 0.25);
    CHECK(r.breaker.open_for == duration(30'000));
    CHECK(r.breaker.half_open_probes == 3);

    // The second route sets only what it must; everything else is the route default.
    const route_config& plain = cfg.routes[1];
    const route_config defaults;
    CHECK(plain.name == "plain");
    CHECK(plain.ttl == defaults.ttl);
    CHECK(plain.protect == defaults.protect);
    CHECK(plain.breaker.failure_rate == defaults.breaker.failure_rate);
}

TEST_CASE("absent fields keep their defaults", "[config]") {
    const config defaults;
    SECTION("empty file") {
        config cfg = load_ok("");
        CHECK(cfg.listen == defaults.listen);
        CHECK(cfg.redis.addr == defaults.redis.addr);
        CHECK(cfg.routes.empty());
    }
    SECTION("comments only") {
        load_ok("# nothing here\n");
    }
    SECTION("one field of a section") {
        config cfg = load_ok("redis:\n  database: 2\n");
        CHECK(cfg.redis.database == 2);
        CHECK(cfg.redis.addr == defaults.redis.addr);
        CHECK(cfg.redis.command_timeout == defaults.redis.command_timeout);
        CHECK(cfg.threads == defaults.threads);
    }
    SECTION("an empty section") {
        config cfg = load_ok("limits:\nadmin:\nroutes:\n");
        CHECK(cfg.limits.max_clients == defaults.limits.max_clients);
        CHECK(cfg.admin.enabled);
    }
    SECTION("values already in the struct survive") {
        config cfg;
        cfg.threads = 8;
        REQUIRE_FALSE(load_config_text("log_level: warn\n", "cfg.yaml", cfg));
        CHECK(cfg.threads == 8);
        CHECK(cfg.log_level == "warn");
    }
}

TEST_CASE("admin.listen may be off", "[config]") {
    CHECK_FALSE(load_ok("admin:\n  listen: off\n").admin.enabled);
    CHECK_FALSE(load_ok("admin:\n  listen: \"OFF\"\n").admin.enabled);
    CHECK(load_error("admin:\n  listen: nope\n") ==
          "cfg.yaml: admin.listen: missing port in \"nope\" (expected host:port) (or \"off\" to "
          "disable)");
}

TEST_CASE("a rejected file leaves the config untouched", "[config]") {
    config cfg;
    cfg.threads = 8;
    REQUIRE(load_config_text("threads: 3\nlog_level: loud\n", "cfg.yaml", cfg));
    CHECK(cfg.threads == 8);
    CHECK(cfg.log_level == "info");
    CHECK(cfg.source.empty());
}

// ---------------------------------------------------------------------------------------------
// File errors: always "FILE: field: problem"

TEST_CASE("the documented error example", "[config]") {
    CHECK(load_error("redis:\n  command_timeout: 5\n") ==
          "cfg.yaml: redis.command_timeout: missing unit (ms, s, m, h) in \"5\"");
}

TEST_CASE("unknown keys are errors at every level", "[config]") {
    CHECK(load_error("redis:\n  adress: 127.0.0.1:1\n") == "cfg.yaml: redis.adress: unknown field");
    CHECK(load_error("thread: 4\n") == "cfg.yaml: thread: unknown field");
    CHECK(load_error("limits:\n  max_client: 1\n") == "cfg.yaml: limits.max_client: unknown field");
    CHECK(load_error("admin:\n  port: 1\n") == "cfg.yaml: admin.port: unknown field");
    CHECK(load_error("routes:\n  - name: a\n    tll: 1s\n") ==
          "cfg.yaml: routes[0].tll: unknown field");
    CHECK(load_error("routes:\n  - name: a\n  - name: b\n    breaker:\n      windw: 1s\n") ==
          "cfg.yaml: routes[1].breaker.windw: unknown field");
}

TEST_CASE("values of the wrong shape are errors", "[config]") {
    CHECK(load_error("threads: abc\n") == "cfg.yaml: threads: expected an integer, got \"abc\"");
    CHECK(load_error("threads: 1.5\n") == "cfg.yaml: threads: expected an integer, got \"1.5\"");
    CHECK(load_error("threads: [1]\n") == "cfg.yaml: threads: expected an integer, got a list");
    CHECK(load_error("threads:\n") == "cfg.yaml: threads: missing value (expected an integer)");
    CHECK(load_error("threads: 99999999999\n") ==
          "cfg.yaml: threads: integer out of range: \"99999999999\"");
    CHECK(load_error("redis:\n  max_pending: -1\n") ==
          "cfg.yaml: redis.max_pending: must not be negative, got \"-1\"");
    CHECK(
        load_error("redis:\n  password:\n") ==
        "cfg.yaml: redis.password: missing value (expected a string; write \"\" for an empty one)");
    CHECK(load_error("log_level: {a: 1}\n") ==
          "cfg.yaml: log_level: expected a string; write \"\" for an empty one, got a mapping");
    CHECK(load_error("redis: 5\n") == "cfg.yaml: redis: expected a mapping, got \"5\"");
    CHECK(load_error("- 1\n- 2\n") == "cfg.yaml: (top level): expected a mapping, got a list");
    CHECK(load_error("routes:\n  a: 1\n") ==
          "cfg.yaml: routes: expected a list of routes, got a mapping");
    CHECK(load_error("routes:\n  - 5\n") == "cfg.yaml: routes[0]: expected a mapping, got \"5\"");
    CHECK(load_error("routes:\n  - name: a\n    protect: maybe\n") ==
          "cfg.yaml: routes[0].protect: expected true or false, got \"maybe\"");
    CHECK(load_error("routes:\n  - name: a\n    ttl_jitter: lots\n") ==
          "cfg.yaml: routes[0].ttl_jitter: expected a number, got \"lots\"");
    CHECK(load_error("routes:\n  - name: a\n    early_refresh: 1.0\n") ==
          "cfg.yaml: routes[0].early_refresh: expected a mapping (beta: 1.0), got \"1.0\"");
    CHECK(load_error("routes:\n  - name: a\n    early_refresh: {bet: 1}\n") ==
          "cfg.yaml: routes[0].early_refresh.bet: unknown field");
    CHECK(load_error("threads: 1\nthreads: 2\n") == "cfg.yaml: threads: duplicate field");
}

TEST_CASE("durations, sizes and addresses name their field", "[config]") {
    CHECK(load_error("shutdown_timeout: -1s\n") ==
          "cfg.yaml: shutdown_timeout: negative duration \"-1s\"");
    CHECK(load_error("routes:\n  - name: a\n    ttl: 10\n") ==
          "cfg.yaml: routes[0].ttl: missing unit (ms, s, m, h) in \"10\"");
    CHECK(
        load_error("limits:\n  client_output_buffer: 64m\n") ==
        "cfg.yaml: limits.client_output_buffer: unknown unit \"m\" in \"64m\" (use b, kb, mb, gb)");
    CHECK(load_error("limits:\n  max_request_bytes: 99999999999999999999\n") ==
          "cfg.yaml: limits.max_request_bytes: size \"99999999999999999999\" is too large");
    CHECK(load_error("listen: localhost\n") ==
          "cfg.yaml: listen: missing port in \"localhost\" (expected host:port)");
    CHECK(load_error("redis:\n  address: unix:redis.sock\n") ==
          "cfg.yaml: redis.address: unix socket path must be absolute in \"unix:redis.sock\"");
}

TEST_CASE("a YAML syntax error names the file and line", "[config]") {
    CHECK(load_error("threads: 1\nthreads: 2: 3\n") ==
          "cfg.yaml: line 2, column 11: illegal map value");
    CHECK(load_error("threads: 1\n\tlisten: x\n") ==
          "cfg.yaml: line 2, column 1: illegal tab when looking for indentation");
    CHECK(load_error("threads: 1\nredis: {database: 1]\n") ==
          "cfg.yaml: line 2, column 20: illegal flow end");
    // yaml-cpp notices an unclosed list only where the next construct starts.
    CHECK(load_error("threads: 1\nredis:\n  address: [1, 2\nlimits: {}\n") ==
          "cfg.yaml: line 4, column 7: end of sequence flow not found");
}

TEST_CASE("validation errors from a file name the file", "[config]") {
    CHECK(load_error("threads: 0\n") == "cfg.yaml: threads: must be between 1 and 256, got 0");
    CHECK(load_error("routes:\n  - match: \"a:*\"\n") ==
          "cfg.yaml: routes[0].name: must not be empty");
}

TEST_CASE("load_config_file reads a file and names it", "[config]") {
    SECTION("a good file") {
        temp_file file("threads: 3\n");
        config cfg;
        REQUIRE_FALSE(load_config_file(file.path(), cfg));
        CHECK(cfg.threads == 3);
        CHECK(cfg.source == file.path());
    }
    SECTION("a bad field") {
        temp_file file("redis:\n  adress: x\n");
        config cfg;
        auto error = load_config_file(file.path(), cfg);
        REQUIRE(error);
        CHECK(error->message == file.path() + ": redis.adress: unknown field");
    }
    SECTION("a missing file") {
        config cfg;
        auto error = load_config_file("/nonexistent/herdguard.yaml", cfg);
        REQUIRE(error);
        CHECK(error->message ==
              "/nonexistent/herdguard.yaml: cannot open: No such file or directory");
    }
    SECTION("a directory") {
        const std::string dir = std::filesystem::temp_directory_path().string();
        config cfg;
        auto error = load_config_file(dir, cfg);
        REQUIRE(error);
        CHECK(error->message == dir + ": cannot read: Is a directory");
    }
}

// ---------------------------------------------------------------------------------------------
// The shipped example

TEST_CASE("config/herdguard.yaml loads, validates and documents the defaults",
          "[config][example]") {
    const std::string path = std::string(HERDGUARD_SOURCE_DIR) + "/config/herdguard.yaml";
    config cfg;
    auto error = load_config_file(path, cfg);
    INFO((error ? error->message : ""));
    REQUIRE_FALSE(error);
    CHECK(cfg.source == path);

    // The example says "defaults shown here": keep it true when config.h changes.
    const config d;
    CHECK(cfg.listen == d.listen);
    CHECK(cfg.threads == d.threads);
    CHECK(cfg.log_level == d.log_level);
    CHECK(cfg.log_format == d.log_format);
    CHECK(cfg.shutdown_timeout == d.shutdown_timeout);
    CHECK(cfg.redis.addr == d.redis.addr);
    CHECK(cfg.redis.username == d.redis.username);
    CHECK(cfg.redis.password == d.redis.password);
    CHECK(cfg.redis.database == d.redis.database);
    CHECK(cfg.redis.connect_timeout == d.redis.connect_timeout);
    CHECK(cfg.redis.command_timeout == d.redis.command_timeout);
    CHECK(cfg.redis.connections_per_thread == d.redis.connections_per_thread);
    CHECK(cfg.redis.max_pending == d.redis.max_pending);
    CHECK(cfg.limits.max_clients == d.limits.max_clients);
    CHECK(cfg.limits.max_request_bytes == d.limits.max_request_bytes);
    CHECK(cfg.limits.max_array_length == d.limits.max_array_length);
    CHECK(cfg.limits.max_inline_bytes == d.limits.max_inline_bytes);
    CHECK(cfg.limits.client_output_buffer == d.limits.client_output_buffer);
    CHECK(cfg.limits.client_timeout == d.limits.client_timeout);
    CHECK(cfg.admin.enabled);
    CHECK(cfg.admin.listen == address{false, "127.0.0.1", 9121});
    CHECK(cfg.admin.hot_keys_in_metrics == d.admin.hot_keys_in_metrics);

    REQUIRE(cfg.routes.size() == 1);
    const route_config& r = cfg.routes[0];
    const route_config rd;
    CHECK(r.name == "products");
    CHECK(r.match == "product:*");
    CHECK(r.upstream == "http://127.0.0.1:8080/products/{1}");
    CHECK(r.ttl == rd.ttl);
    CHECK(r.ttl_jitter == rd.ttl_jitter);
    CHECK(r.stale_for == rd.stale_for);
    CHECK(r.stale_if_error == rd.stale_if_error);
    CHECK(r.negative_ttl == rd.negative_ttl);
    CHECK(r.error_ttl == rd.error_ttl);
    CHECK(r.lock_ttl == rd.lock_ttl);
    CHECK(r.load_timeout == rd.load_timeout);
    CHECK(r.wait_timeout == rd.wait_timeout);
    CHECK(r.max_waiters == rd.max_waiters);
    CHECK(r.max_concurrent_loads == rd.max_concurrent_loads);
    CHECK(r.max_value_bytes == rd.max_value_bytes);
    CHECK(r.protect == rd.protect);
    CHECK(r.breaker.window == rd.breaker.window);
    CHECK(r.breaker.min_calls == rd.breaker.min_calls);
    CHECK(r.breaker.failure_rate == rd.breaker.failure_rate);
    CHECK(r.breaker.open_for == rd.breaker.open_for);
    CHECK(r.breaker.half_open_probes == rd.breaker.half_open_probes);

    // And --check accepts it.
    CHECK(cli_ok({"--check", "--config", path}).check_only);
}

TEST_CASE("early_refresh: off unless given; the block alone is the paper's beta of 1", "[config]") {
    const std::string route = "routes:\n  - name: a\n    match: \"a:*\"\n    upstream: \"http://127.0.0.1:1/{1}\"\n";
    CHECK(load_ok(route).routes.at(0).early_refresh_beta == 0.0);
    CHECK(load_ok(route + "    early_refresh: {}\n").routes.at(0).early_refresh_beta == 1.0);
}
