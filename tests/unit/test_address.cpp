#include <catch2/catch.hpp>

#include "herdguard/util/address.h"

using herdguard::address;
using herdguard::parse_address;

namespace {

std::string address_error(std::string_view text) {
    std::string why;
    if (auto addr = parse_address(text, &why)) return "(accepted as " + addr->to_string() + ")";
    return why;
}

}  // namespace

TEST_CASE("parse_address reads host:port", "[address]") {
    CHECK(parse_address("127.0.0.1:6379") == address{false, "127.0.0.1", 6379});
    CHECK(parse_address("localhost:1") == address{false, "localhost", 1});
    CHECK(parse_address("redis.internal:65535") == address{false, "redis.internal", 65535});
    CHECK(parse_address("0.0.0.0:6380") == address{false, "0.0.0.0", 6380});
}

TEST_CASE("parse_address reads bracketed IPv6", "[address]") {
    CHECK(parse_address("[::1]:6379") == address{false, "::1", 6379});
    CHECK(parse_address("[fe80::1%eth0]:80") == address{false, "fe80::1%eth0", 80});
    CHECK(parse_address("[::]:6380") == address{false, "::", 6380});
}

TEST_CASE("parse_address reads unix sockets", "[address]") {
    CHECK(parse_address("unix:/run/redis.sock") == address{true, "/run/redis.sock", 0});
    CHECK(parse_address("unix:/") == address{true, "/", 0});
}

TEST_CASE("parse_address explains bad ports", "[address]") {
    CHECK(address_error("localhost") == "missing port in \"localhost\" (expected host:port)");
    CHECK(address_error("localhost:") == "missing port in \"localhost:\"");
    CHECK(address_error("localhost:0") == "port 0 out of range (1-65535) in \"localhost:0\"");
    CHECK(address_error("localhost:65536") ==
          "port 65536 out of range (1-65535) in \"localhost:65536\"");
    CHECK(address_error("localhost:99999999999") ==
          "port 99999999999 out of range (1-65535) in \"localhost:99999999999\"");
    CHECK(address_error("localhost:http") == "port \"http\" is not a number in \"localhost:http\"");
    CHECK(address_error("localhost:-1") == "port \"-1\" is not a number in \"localhost:-1\"");
    CHECK(address_error("localhost:80x") == "port \"80x\" is not a number in \"localhost:80x\"");
}

TEST_CASE("parse_address explains bad hosts", "[address]") {
    CHECK(address_error("") == "empty address (expected host:port or unix:/path)");
    CHECK(address_error(":6379") == "missing host in \":6379\"");
    CHECK(address_error("::1:6379") ==
          "IPv6 address needs brackets, as in \"[::1]:6379\", in \"::1:6379\"");
    CHECK(address_error("local host:1") == "whitespace in address \"local host:1\"");
    CHECK(address_error("[::1:6379") == "missing ']' in \"[::1:6379\"");
    CHECK(address_error("[]:6379") == "missing host in \"[]:6379\"");
    CHECK(address_error("[::1]") == "missing port in \"[::1]\"");
    CHECK(address_error("[::1]6379") == "expected ':' after ']' in \"[::1]6379\"");
    CHECK(address_error("host]:1") == "misplaced bracket in \"host]:1\"");
}

TEST_CASE("parse_address explains bad unix paths", "[address]") {
    CHECK(address_error("unix:") == "missing socket path in \"unix:\"");
    CHECK(address_error("unix:run/redis.sock") ==
          "unix socket path must be absolute in \"unix:run/redis.sock\"");
    const std::string longest = "unix:/" + std::string(106, 'x');  // 107 bytes + NUL fit sun_path
    CHECK(parse_address(longest));
    const std::string too_long = "unix:/" + std::string(107, 'x');
    CHECK(address_error(too_long) ==
          "unix socket path longer than 107 bytes in \"" + too_long + "\"");
}

TEST_CASE("parse_address without a why pointer does not crash", "[address]") {
    CHECK_FALSE(parse_address("nope"));
    CHECK_FALSE(parse_address("unix:relative"));
    CHECK_FALSE(parse_address("[::1]"));
}

TEST_CASE("address::to_string round-trips", "[address]") {
    for (const char* text : {"127.0.0.1:6379", "localhost:1", "[::1]:6379", "[fe80::1%eth0]:80",
                             "unix:/run/herdguard.sock"}) {
        auto addr = parse_address(text);
        REQUIRE(addr);
        CHECK(addr->to_string() == text);
        CHECK(parse_address(addr->to_string()) == addr);
    }
    // Built in code rather than parsed: an IPv6 host still gets its brackets.
    CHECK(address{false, "::1", 80}.to_string() == "[::1]:80");
}
