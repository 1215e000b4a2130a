// Herd-proof read-through GET (src/herd/read_through.cpp), which keys load and from where: key
// bytes reach the upstream percent-encoded inside one path segment (no SSRF), MGET mixes routed
// and unrouted keys, GET inside MULTI stays plain Redis, and a host-name upstream is resolved.
// Real redis-server, real herdguard processes and the scriptable demo upstream, which counts
// every request per path and answers "value:<path>#<n>", so a reply says which load produced it
// and /_stats says how many loads there were.
//
// Waiting: every wait is an event polled with a bound (the upstream's /_stats, INFO herdguard).
#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "harness.h"
#include "read_through_helpers.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Percent-decodes `s`; nullopt if a '%' is not followed by two hex digits.
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out.push_back(s[i]);
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
    }
    return out;
}

// RFC 3986 unreserved characters plus '%' (of an escape): nothing that could end or redirect a
// path segment.
bool only_safe_path_bytes(std::string_view s) {
    return std::all_of(s.begin(), s.end(), [](char ch) {
        unsigned char c = static_cast<unsigned char>(ch);
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
    });
}

}  // namespace

// Keys are attacker-controlled; the upstream URL must never be steered by them.
TEST_CASE("SSRF: key bytes reach the upstream percent-encoded inside one path segment",
          "[integration][herd]") {
    herd_stack stack(route_options{});
    auto c = stack.proxy_client();
    const std::vector<std::string> captures = {
        "a/b",
        "../../etc/passwd",
        "..",
        "x?y=1&z=2",
        "x#frag",
        "100%",
        "%2e%2e%2f",
        "user@evil.example",
        "a:b:c",
        "http://evil.example/x",
        "with space",
        "tab\there",
        "cr\r\nHost: evil.example\r\n\r\nGET /admin HTTP/1.1",
        std::string("nul\0byte", 8),
        "\xff\xfe\xc3\x28 invalid utf8",
        "caf\xc3\xa9",
    };
    std::vector<std::string> replies;
    for (const auto& cap : captures) replies.push_back(c.cmd({"GET", "product:" + cap}));

    auto st = stack.upstream.stats();
    INFO("upstream /_stats:\n" << printable(st.text));
    CHECK(st.total == captures.size());
    CHECK(st.paths.size() == captures.size());
    const std::string prefix = "/products/";
    std::map<std::string, std::string> path_of;  // capture -> the path that carried it
    for (const auto& [path, count] : st.paths) {
        INFO("path " << printable(path));
        CHECK(count == 1);
        REQUIRE(path.rfind(prefix, 0) == 0);
        const std::string rest = path.substr(prefix.size());
        CHECK(rest.find_first_of("/?#") == std::string::npos);
        CHECK(only_safe_path_bytes(rest));
        auto decoded = percent_decode(rest);
        REQUIRE(decoded);
        path_of[*decoded] = path;
    }
    for (std::size_t i = 0; i < captures.size(); ++i) {
        INFO("key product:" << printable(captures[i]) << " -> " << printable(replies[i]));
        auto it = path_of.find(captures[i]);
        REQUIRE(it != path_of.end());
        CHECK(replies[i] == value_of(it->second));
    }
    require_alive(stack);
}

TEST_CASE("MGET mixes routed, unrouted and routed-404 keys in order", "[integration][herd]") {
    herd_stack stack(route_options{});
    auto c = stack.proxy_client();
    auto direct = stack.direct_client();
    REQUIRE(direct.cmd({"SET", "plain:k", "pv"}) == "+OK");

    const std::vector<std::string> mget{"MGET", "product:m1", "plain:k", "product:missing-m"};
    const std::string expected = "*[" + value_of("/products/m1") + ", $pv, (nil)]";
    CHECK(c.cmd(mget) == expected);
    auto st = stack.upstream.stats();
    INFO("upstream /_stats:\n" << st.text);
    CHECK(st.count("/products/m1") == 1);
    CHECK(st.count("/products/missing-m") == 1);
    CHECK(st.total == 2);

    CHECK(c.cmd(mget) == expected);  // cached value, remembered 404: no new request
    CHECK(stack.upstream.total() == 2);
    require_alive(stack);
}

TEST_CASE("GET inside MULTI is plain Redis: nil for a routed missing key, no upstream request",
          "[integration][herd]") {
    herd_stack stack(route_options{});
    auto c = stack.proxy_client();
    CHECK(c.cmd({"MULTI"}) == "+OK");
    CHECK(c.cmd({"GET", "product:tx"}) == "+QUEUED");
    CHECK(c.cmd({"EXEC"}) == "*[(nil)]");
    CHECK(stack.upstream.total() == 0);
    // After EXEC the same client is routed again.
    CHECK(c.cmd({"GET", "product:tx"}) == value_of("/products/tx"));
    CHECK(stack.upstream.total() == 1);
    require_alive(stack);
}

// ---------------------------------------------------------------------------------------------
// An upstream given by host name goes through the resolver (raced against load_timeout, since
// getaddrinfo has no timeout of its own) and loads like an address.
TEST_CASE("a host-name upstream is resolved and loads", "[integration][herd]") {
    temp_dir dir;
    redis_server redis(dir);
    demo_upstream upstream(dir, 0);
    route_options route;
    route.upstream = upstream.url();
    const auto at = route.upstream.find("127.0.0.1");
    REQUIRE(at != std::string::npos);
    route.upstream.replace(at, 9, "localhost");
    herdguard_options opts;
    opts.config_yaml = herdguard_config(redis.port(), route);
    herdguard_proc proxy(dir, redis.port(), opts);
    client c(proxy.port(), 3s);
    INFO(route.upstream << "\n" << proxy.log_tail());
    CHECK(c.cmd({"GET", "product:named"}) == value_of("/products/named"));
    CHECK(upstream.total() == 1);
}
