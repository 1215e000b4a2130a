#include <unistd.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include "config_test_support.h"
#include "herdguard/config/config.h"

using namespace herdguard;
using namespace herdguard::test;

namespace {

// A file under the temp directory, removed when the test ends.
class temp_file {
  public:
    explicit temp_file(const std::string& content) {
        static int counter = 0;
        path_ = std::filesystem::temp_directory_path() /
                ("herdguard-config-test-" + std::to_string(::getpid()) + "-" +
                 std::to_string(counter++) + ".yaml");
        std::ofstream(path_) << content;
    }
    ~temp_file() {
        std::error_code ignored;
        std::filesystem::remove(path_, ignored);
    }
    temp_file(const temp_file&) = delete;
    temp_file& operator=(const temp_file&) = delete;
    std::string path() const { return path_.string(); }

  private:
    std::filesystem::path path_;
};

// Captures std::cout for the lifetime of the object (--help prints there).
class capture_stdout {
  public:
    capture_stdout() : old_(std::cout.rdbuf(buffer_.rdbuf())) {}
    ~capture_stdout() { std::cout.rdbuf(old_); }
    std::string text() const { return buffer_.str(); }

  private:
    std::ostringstream buffer_;
    std::streambuf* old_;
};


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
routes:
  - name: users
    match: "user:*:*"
    upstream: "http://users.internal:9000/u/{1}/{2}?key={key}"
    ttl: 2h
    ttl_jitter: 0
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

TEST_CASE("the built-in defaults validate", "[config]") {
    CHECK_FALSE(validate(config{}));
    config cfg;
    cfg.routes.push_back(valid_route());
    CHECK_FALSE(validate(cfg));
}

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

    REQUIRE(cfg.routes.size() == 2);
    const route_config& r = cfg.routes[0];
    CHECK(r.name == "users");
    CHECK(r.match == "user:*:*");
    CHECK(r.upstream == "http://users.internal:9000/u/{1}/{2}?key={key}");
    CHECK(r.ttl == duration(7'200'000));
    CHECK(r.ttl_jitter == 0.0);
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
// validate()

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

// ---------------------------------------------------------------------------------------------
// parse_command_line

TEST_CASE("no flags, no env: the defaults", "[config][cli]") {
    command_line cl = cli_ok({});
    CHECK(cl.cfg.source.empty());
    CHECK(cl.cfg.listen == config{}.listen);
    CHECK_FALSE(cl.check_only);
    CHECK_FALSE(cl.show_help);
    CHECK_FALSE(cl.show_version);
}

TEST_CASE("precedence is flag > env > file > default", "[config][cli]") {
    temp_file file(
        "listen: 127.0.0.1:7001\n"
        "threads: 2\n"
        "log_level: debug\n"
        "redis:\n  address: 127.0.0.1:7101\n  password: from-file\n");
    fake_env env{{"HERDGUARD_CONFIG", file.path()},
                 {"HERDGUARD_LISTEN", "127.0.0.1:7002"},
                 {"HERDGUARD_THREADS", "3"},
                 {"HERDGUARD_REDIS_PASSWORD", "from-env"}};

    command_line cl = cli_ok({"--listen", "127.0.0.1:7003"}, env);
    CHECK(cl.cfg.source == file.path());
    CHECK(cl.cfg.listen == address{false, "127.0.0.1", 7003});      // flag beats env and file
    CHECK(cl.cfg.threads == 3);                                     // env beats file
    CHECK(cl.cfg.redis.password == "from-env");                     // env beats file
    CHECK(cl.cfg.log_level == "debug");                             // file beats default
    CHECK(cl.cfg.redis.addr == address{false, "127.0.0.1", 7101});  // file beats default
    CHECK(cl.cfg.log_format == "text");                             // default

    // Without the flag, env wins over the file.
    CHECK(cli_ok({}, env).cfg.listen == address{false, "127.0.0.1", 7002});
}

TEST_CASE("every flag and env var lands in its field", "[config][cli]") {
    SECTION("flags") {
        command_line cl =
            cli_ok({"--listen", "unix:/tmp/h.sock", "--redis", "[::1]:6390", "--threads=5",
                    "--log-level", "warn", "--log-format", "json", "--admin", "off"});
        CHECK(cl.cfg.listen == address{true, "/tmp/h.sock", 0});
        CHECK(cl.cfg.redis.addr == address{false, "::1", 6390});
        CHECK(cl.cfg.threads == 5);
        CHECK(cl.cfg.log_level == "warn");
        CHECK(cl.cfg.log_format == "json");
        CHECK_FALSE(cl.cfg.admin.enabled);
    }
    SECTION("env") {
        fake_env env{{"HERDGUARD_LISTEN", "unix:/tmp/h.sock"},
                     {"HERDGUARD_REDIS", "[::1]:6390"},
                     {"HERDGUARD_THREADS", "5"},
                     {"HERDGUARD_LOG_LEVEL", "warn"},
                     {"HERDGUARD_LOG_FORMAT", "json"},
                     {"HERDGUARD_ADMIN", "0.0.0.0:9999"},
                     {"HERDGUARD_REDIS_PASSWORD", "pw"}};
        command_line cl = cli_ok({}, env);
        CHECK(cl.cfg.listen == address{true, "/tmp/h.sock", 0});
        CHECK(cl.cfg.redis.addr == address{false, "::1", 6390});
        CHECK(cl.cfg.threads == 5);
        CHECK(cl.cfg.log_level == "warn");
        CHECK(cl.cfg.log_format == "json");
        CHECK(cl.cfg.admin.enabled);
        CHECK(cl.cfg.admin.listen == address{false, "0.0.0.0", 9999});
        CHECK(cl.cfg.redis.password == "pw");
    }
    SECTION("--admin ADDR re-enables what env turned off") {
        command_line cl =
            cli_ok({"--admin", "127.0.0.1:9200"}, fake_env{{"HERDGUARD_ADMIN", "off"}});
        CHECK(cl.cfg.admin.enabled);
        CHECK(cl.cfg.admin.listen == address{false, "127.0.0.1", 9200});
    }
    SECTION("an empty env var counts as unset") {
        command_line cl = cli_ok({}, fake_env{{"HERDGUARD_THREADS", ""}, {"HERDGUARD_CONFIG", ""}});
        CHECK(cl.cfg.threads == 1);
        CHECK(cl.cfg.source.empty());
    }
}

TEST_CASE("--config beats HERDGUARD_CONFIG", "[config][cli]") {
    temp_file from_flag("threads: 6\n");
    temp_file from_env("threads: 7\n");
    fake_env env{{"HERDGUARD_CONFIG", from_env.path()}};
    CHECK(cli_ok({}, env).cfg.threads == 7);
    command_line cl = cli_ok({"--config", from_flag.path()}, env);
    CHECK(cl.cfg.threads == 6);
    CHECK(cl.cfg.source == from_flag.path());
}

TEST_CASE("--check needs a config file", "[config][cli]") {
    CHECK(cli_error({"--check"}) ==
          "command line: --check: needs a config file (--config FILE or HERDGUARD_CONFIG)");
    temp_file file("threads: 2\n");
    command_line cl = cli_ok({"--check", "--config", file.path()});
    CHECK(cl.check_only);
    CHECK(cli_ok({"--check"}, fake_env{{"HERDGUARD_CONFIG", file.path()}}).check_only);
}

TEST_CASE("--help prints usage and stops", "[config][cli]") {
    capture_stdout out;
    command_line cl = cli_ok({"--help"}, fake_env{{"HERDGUARD_THREADS", "not a number"}});
    CHECK(cl.show_help);
    const std::string text = out.text();
    for (const char* expected :
         {"--config", "--check", "--listen", "--redis", "--threads", "--log-level", "--log-format",
          "--admin", "--version", "HERDGUARD_CONFIG", "HERDGUARD_REDIS_PASSWORD",
          "HERDGUARD_ADMIN"}) {
        CHECK_THAT(text, Catch::Contains(expected));
    }
}

TEST_CASE("--version stops before reading the config", "[config][cli]") {
    command_line cl = cli_ok({"--version"}, fake_env{{"HERDGUARD_CONFIG", "/nonexistent.yaml"}});
    CHECK(cl.show_version);
}

TEST_CASE("command line and env errors name their source", "[config][cli]") {
    CHECK(cli_error({"--threads", "abc"}) ==
          "command line: threads: expected an integer, got \"abc\"");
    CHECK(cli_error({}, fake_env{{"HERDGUARD_THREADS", "abc"}}) ==
          "env HERDGUARD_THREADS: threads: expected an integer, got \"abc\"");
    CHECK(cli_error({"--listen", "localhost"}) ==
          "command line: listen: missing port in \"localhost\" (expected host:port)");
    CHECK(cli_error({}, fake_env{{"HERDGUARD_REDIS", "nohost"}}) ==
          "env HERDGUARD_REDIS: redis.address: missing port in \"nohost\" (expected host:port)");
    CHECK(cli_error({"--admin", "on"}) ==
          "command line: admin.listen: missing port in \"on\" (expected host:port) (or \"off\" to "
          "disable)");
    CHECK(cli_error({"--config", "/nonexistent.yaml"}) ==
          "/nonexistent.yaml: cannot open: No such file or directory");
}

TEST_CASE("validation blames the source that set the value", "[config][cli]") {
    CHECK(cli_error({"--threads", "0"}) ==
          "command line: threads: must be between 1 and 256, got 0");
    CHECK(cli_error({}, fake_env{{"HERDGUARD_LOG_LEVEL", "loud"}}) ==
          "env HERDGUARD_LOG_LEVEL: log_level: must be one of trace, debug, info, warn, error, "
          "off, got \"loud\"");
    CHECK(cli_error({"--log-format", "xml"}, fake_env{{"HERDGUARD_LOG_FORMAT", "json"}}) ==
          "command line: log_format: must be text or json, got \"xml\"");

    temp_file file("threads: 0\n");
    CHECK(cli_error({"--config", file.path()}) ==
          file.path() + ": threads: must be between 1 and 256, got 0");
    // A flag can repair a bad file value, since validation runs after all overrides.
    CHECK(cli_ok({"--config", file.path(), "--threads", "4"}).cfg.threads == 4);
}

TEST_CASE("CLI11 parse errors are reported, not thrown", "[config][cli]") {
    CHECK_THAT(cli_error({"--bogus"}),
               Catch::StartsWith("command line: ") && Catch::Contains("--bogus"));
    CHECK_THAT(cli_error({"stray"}),
               Catch::StartsWith("command line: ") && Catch::Contains("stray"));
    CHECK_THAT(cli_error({"--threads"}),
               Catch::StartsWith("command line: ") && Catch::Contains("--threads"));
}

TEST_CASE("parse_command_line survives an empty argv", "[config][cli]") {
    fake_env env{};
    auto result = parse_command_line(0, nullptr, &env);
    CHECK(std::holds_alternative<command_line>(result));
}

TEST_CASE("a null env_lookup reads the process environment", "[config][cli]") {
    ::setenv("HERDGUARD_THREADS", "9", 1);
    const char* argv[] = {"herdguard", nullptr};
    auto result = parse_command_line(1, argv, nullptr);
    ::unsetenv("HERDGUARD_THREADS");
    REQUIRE(std::holds_alternative<command_line>(result));
    CHECK(std::get<command_line>(result).cfg.threads == 9);
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
