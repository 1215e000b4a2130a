// Herd-proof read-through GET (src/herd/read_through.cpp) when loads fail: the circuit breaker,
// upstream faults (slow, hanging, garbage, cut short, too large, refused), Redis down, and
// error_ttl 0 across instances. Real redis-server, real herdguard processes and the scriptable
// demo upstream, which counts every request per path and answers "value:<path>#<n>", so a reply
// says which load produced it and /_stats says how many loads there were.
//
// Waiting: every wait is an event polled with a bound (the upstream's /_stats, INFO herdguard,
// PTTL in Redis). The one exception is a documented time-based transition: a breaker that
// half-opens after open_for; it is polled too, and the test checks it did not happen early.
#include <algorithm>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "read_through_helpers.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

// "-ERR herdguard: upstream 'products' unavailable (<why>)"
std::string unavailable(const std::string& why) {
    return "-ERR herdguard: upstream 'products' unavailable (" + why + ")";
}
const std::string circuit_open = unavailable("circuit open");

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("CircuitBreaker", "[integration][herd]") {
    route_options route;
    route.ttl = 200ms;
    route.ttl_jitter = 0;
    route.stale_for = 0ms;
    route.stale_if_error = 30s;
    route.error_ttl = 0ms;  // every miss may load: only the breaker stops them
    route.breaker.window = 10s;
    route.breaker.min_calls = 3;
    route.breaker.failure_rate = 0.5;
    route.breaker.open_for = 1s;
    route.breaker.half_open_probes = 1;
    // Breakers are per process. Instance #0 only writes the value that later goes stale (a
    // healthy load on #1 would count in #1's window); #1's breaker is the one under test.
    herd_stack stack(route, 2);
    auto writer = stack.proxy_client(0);
    auto c = stack.proxy_client(1);
    auto direct = stack.direct_client();
    const auto port = stack.proxy(1).port();
    const long long keep = route.stale_if_error.count();

    REQUIRE(writer.cmd({"GET", "product:old"}) == value_of("/products/old"));
    stack.upstream.control("status=500");
    // Past its fresh time (200 ms), still within stale_if_error.
    REQUIRE(eventually(
        [&] {
            auto p = pttl(direct, "product:old");
            return p > 0 && p < keep - 20;
        },
        2s));

    // Closed: failures reach the upstream until min_calls of them open the breaker.
    const auto before = stack.upstream.total();
    std::vector<std::string> replies;
    steady::time_point last_failure_sent;
    for (char k = 'a'; k <= 'j'; ++k) {
        const auto t0 = steady::now();
        replies.push_back(c.cmd({"GET", std::string("product:") + k}));
        if (replies.back() == circuit_open) break;
        last_failure_sent = t0;
    }
    {
        std::string all;
        for (const auto& r : replies) all += "\n  " + r;
        INFO("replies:" << all);
        REQUIRE(replies.size() == 4);
        for (int i = 0; i < 3; ++i) CHECK(replies[i] == unavailable("HTTP 500"));
    }
    CHECK(stack.upstream.total() - before == 3);
    CHECK(route_info(port, "breaker_state") == "open");
    CHECK(route_counter(port, "breaker_trips") == 1);

    // Open: fail fast, no upstream request; a stale value beats the error.
    CHECK(c.cmd({"GET", "product:k"}) == circuit_open);
    CHECK(c.cmd({"GET", "product:old"}) == value_of("/products/old"));
    CHECK(stack.upstream.total() - before == 3);
    CHECK(route_counter(port, "stale_served") == 1);
    CHECK(route_counter(port, "loads_rejected_breaker") == 3);  // product:d, :k, :old

    // After open_for (plus up to 10% jitter) one probe goes through. Polled with GETs: the
    // breaker only moves to half-open when a load asks it.
    steady::time_point probe_sent;
    auto probe = [&](const std::string& key, std::string& last) {
        return eventually(
            [&] {
                probe_sent = steady::now();
                last = c.cmd({"GET", key});
                return last != circuit_open;
            },
            3s, 25ms);
    };
    std::string last;
    REQUIRE(probe("product:p1", last));
    CHECK(ms_since(last_failure_sent) >= route.breaker.open_for.count());
    CHECK(last == unavailable("HTTP 500"));  // the probe failed: open again
    CHECK(stack.upstream.total() - before == 4);
    CHECK(route_info(port, "breaker_state") == "open");
    CHECK(route_counter(port, "breaker_trips") == 2);
    CHECK(c.cmd({"GET", "product:p1"}) == circuit_open);
    const auto failed_probe_sent = probe_sent;

    // Upstream healthy again: the next probe succeeds and closes the breaker.
    stack.upstream.control("status=200");
    REQUIRE(probe("product:p2", last));
    CHECK(ms_since(failed_probe_sent) >= route.breaker.open_for.count());
    CHECK(last == value_of("/products/p2"));
    CHECK(stack.upstream.total() - before == 5);
    CHECK(route_info(port, "breaker_state") == "closed");
    CHECK(c.cmd({"GET", "product:q"}) == value_of("/products/q"));
    CHECK(stack.upstream.total() - before == 6);
    require_alive(stack);
}

TEST_CASE("upstream faults answer a clear error promptly, cache nothing, and the breaker counts them",
          "[integration][herd]") {
    route_options route;
    route.load_timeout = 300ms;
    route.max_value_bytes = 1024;
    route.error_ttl = 0ms;
    // One failure opens the breaker: that is how the test sees the breaker count the fault. It
    // half-opens after 300 ms (+ up to 10%), and a healthy probe closes it again.
    route.breaker.min_calls = 1;
    route.breaker.failure_rate = 0.5;
    route.breaker.open_for = 300ms;

    // The reason in parentheses: herdguard's own words where it has them; Beast's parser message
    // (which may change between Boost versions) after "bad HTTP response (" otherwise.
    std::string control, key;
    std::vector<std::string> reasons;  // acceptable reasons (a prefix match)
    SECTION("slower than load_timeout") {
        control = "latency_ms=1000";
        key = "product:slow";
        reasons = {"timeout after 300ms)"};
    }
    SECTION("hang before any answer") {
        control = "hang=1";
        key = "product:hang";
        reasons = {"timeout after 300ms)"};
    }
    SECTION("hang after the headers") {
        control = "hang_after_headers=1";
        key = "product:headers";
        reasons = {"timeout after 300ms)"};
    }
    SECTION("garbage status line and headers") {
        control = "garbage=1";
        key = "product:garbage";
        reasons = {"bad HTTP response ("};
    }
    SECTION("connection closed mid-body") {
        control = "close_mid_body=1";
        key = "product:cut";
        reasons = {"bad HTTP response (", "connection closed by upstream)"};
    }
    SECTION("body larger than max_value_bytes") {
        control = "body_size=4096";
        key = "product:big";
        reasons = {"value larger than max_value_bytes (1024))"};
    }
    SECTION("connection refused") {
        // Nothing listens there: a port that was free a moment ago.
        route.upstream = "http://127.0.0.1:" + std::to_string(free_port()) + "/products/{1}";
        key = "product:refused";
        reasons = {"connection refused)"};
    }
    herd_stack stack(route);
    auto c = stack.proxy_client(0, 3s);
    auto direct = stack.direct_client();
    const auto port = stack.proxy().port();
    const bool refused = control.empty();

    if (!refused) stack.upstream.control(control);
    const auto t0 = steady::now();
    auto r = c.cmd({"GET", key});
    const auto took = ms_since(t0);
    INFO(key << ": " << printable(r) << " after " << took << " ms\n" << stack.logs());
    REQUIRE(r.rfind(unavailable_prefix, 0) == 0);
    CHECK(r.back() == ')');
    const std::string reason = r.substr(unavailable_prefix.size());
    CHECK(std::any_of(reasons.begin(), reasons.end(),
                      [&](const std::string& ok) { return reason.rfind(ok, 0) == 0; }));
    if (reasons.front().rfind("timeout", 0) == 0) CHECK(took >= route.load_timeout.count());
    CHECK(took < 1000);
    CHECK(stack.upstream.total() == (refused ? 0 : 1));
    CHECK(direct.cmd({"EXISTS", key}) == ":0");
    CHECK(direct.cmd({"EXISTS", "herdguard:lock:" + key}) == ":0");
    // Counted as a failed load, and by the breaker, which it opened.
    CHECK(route_counter(port, "loads_failed") == 1);
    CHECK(route_counter(port, "breaker_trips") == 1);
    CHECK(route_info(port, "breaker_state") == "open");
    if (refused) return;  // nothing to heal

    // The proxy is fine afterwards: once open_for has passed, a probe to the healed upstream
    // loads and closes the breaker.
    stack.upstream.control("hang=0&hang_after_headers=0&garbage=0&close_mid_body=0&body_size=0&latency_ms=0");
    std::string last;
    CHECK(eventually(
        [&] {
            last = c.cmd({"GET", "product:after"});
            return last == value_of("/products/after");
        },
        3s, 25ms));
    INFO("last reply: " << last);
    CHECK(route_info(port, "breaker_state") == "closed");
    CHECK(stack.upstream.total() == 2);
    require_alive(stack);
}

TEST_CASE("Redis down: a routed GET answers 'redis unavailable' quickly and never loads",
          "[integration][herd]") {
    herd_stack stack(route_options{});
    auto c = stack.proxy_client(0, 5s);
    stack.redis.kill9();
    const auto killed_at = steady::now();

    // Like the pass-through test: a GET racing the disconnect may fail differently, but every
    // reply must be an error, promptly, and the named one must come within 2 s.
    std::vector<std::string> seen;
    bool got_unavailable = false;
    while (!got_unavailable && ms_since(killed_at) < 2000) {
        const auto t0 = steady::now();
        auto r = c.cmd({"GET", "product:down"});
        const auto took = ms_since(t0);
        seen.push_back(r + " (" + std::to_string(took) + " ms)");
        INFO("reply: " << r);
        REQUIRE(c.ok());
        CHECK(r.rfind("-", 0) == 0);
        CHECK(took <= 1500);  // redis.command_timeout (1 s) + slack
        got_unavailable = r.rfind("-ERR herdguard: redis unavailable", 0) == 0;
        if (!got_unavailable) std::this_thread::sleep_for(20ms);
    }
    std::string all;
    for (const auto& s : seen) all += "\n  " + s;
    INFO("replies after the kill:" << all);
    CHECK(got_unavailable);
    CHECK(stack.upstream.total() == 0);
    require_alive(stack);
}

// ---------------------------------------------------------------------------------------------
// error_ttl 0 over three instances: the failing load runs once; the flights on the other
// instances that waited for its lease get its failure instead of loading in turn. A new read
// after that loads again (failures are not remembered for new reads).
TEST_CASE("error_ttl 0: one failing load per herd across instances, new reads load again",
          "[integration][herd]") {
    route_options route;
    route.error_ttl = 0ms;
    route.stale_if_error = 0ms;
    route.breaker.min_calls = 100;  // the breaker must not be what stops the loads here
    herd_stack stack(route, 3);
    stack.upstream.control("status=500&latency_ms=300");
    crowd clients(stack.proxy_ports(), 60);  // 20 per instance
    auto replies = clients.request_all({"GET", "product:failing"}, 5s);
    INFO("replies:\n" << summarize(replies) << stack.logs());
    CHECK(count_of(replies, unavailable("HTTP 500")) == replies.size());
    CHECK(stack.upstream.total() == 1);
    CHECK(stack.counter_sum("loads_failed") == 1);
    CHECK(stack.counter_sum("failure_remembered") >= 1);  // the waiting instances' flights

    // The short memory (250 ms) is for flights that waited; a new read loads again at once.
    auto c = stack.proxy_client(1, 3s);
    CHECK(c.cmd({"GET", "product:failing"}) == unavailable("HTTP 500"));
    CHECK(stack.upstream.total() == 2);
    require_alive(stack);
}
