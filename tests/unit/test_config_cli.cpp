// parse_command_line: flags, HERDGUARD_* environment variables and the config file, with
// precedence flag > env > file > default; --config, --check, --help and --version; and errors
// that name their source (command line, env var or file).
#include <catch2/catch.hpp>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <string>
#include <variant>
#include <vector>

#include "config_test_support.h"
#include "herdguard/config/config.h"

using namespace herdguard;
using namespace herdguard::test;

namespace {

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

}  // namespace

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
