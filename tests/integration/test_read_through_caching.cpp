// Herd-proof read-through GET (src/herd/read_through.cpp), what is cached and for how long:
// stale-while-revalidate, jittered TTLs, 404s remembered for negative_ttl, and the fresh memo
// that reads a key known to be fresh with GET alone. Real redis-server, real herdguard processes
// and the scriptable demo upstream, which counts every request per path and answers
// "value:<path>#<n>", so a reply says which load produced it and /_stats says how many loads
// there were.
//
// Waiting: every wait is an event polled with a bound (the upstream's /_stats, INFO herdguard,
// PTTL in Redis).
#include <set>
#include <string>
#include <vector>

#include "harness.h"
#include "read_through_helpers.h"
#include "test_support.h"

using namespace herdguard::test;

// ---------------------------------------------------------------------------------------------
TEST_CASE("StaleWhileRevalidate", "[integration][herd]") {
    route_options route;
    route.ttl = 1s;
    route.ttl_jitter = 0;
    route.stale_for = 30s;
    route.stale_if_error = 0ms;
    herd_stack stack(route, 3);
    auto direct = stack.direct_client();
    auto first = stack.proxy_client(0);
    const std::string key = "product:s", path = "/products/s";
    const long long keep = route.stale_for.count();  // fresh while PTTL > keep
    crowd clients(stack.proxy_ports(), 30);          // 10 per instance

    REQUIRE(first.cmd({"GET", key}) == value_of(path, 1));
    REQUIRE(stack.upstream.count(path) == 1);
    // Stored for ttl + stale_for (no jitter here): fresh for the first second.
    const auto stored = pttl(direct, key);
    CHECK(stored > keep);
    CHECK(stored <= route.ttl.count() + keep);
    REQUIRE(eventually(
        [&] {
            auto p = pttl(direct, key);
            return p > 0 && p < keep - 20;
        },
        3s));

    // Stale: everyone gets the old value at once while one slow refresh runs.
    stack.upstream.control("latency_ms=1000");
    auto replies = clients.request_all({"GET", key}, 3s);
    {
        INFO("replies:\n" << summarize(replies) << "slowest " << slowest(replies) << " ms");
        CHECK(count_of(replies, value_of(path, 1)) == 30);
        for (const auto& r : replies) CHECK(r.latency < 500ms);
    }

    // Exactly one refresh across the three instances reaches the upstream...
    REQUIRE(eventually([&] { return stack.upstream.count(path) >= 2; }, 3s));
    // ...and once it has been written, GETs see the new value.
    std::string now_serving;
    REQUIRE(eventually(
        [&] {
            now_serving = first.cmd({"GET", key});
            return now_serving == value_of(path, 2);
        },
        3s, 50ms));
    auto st = stack.upstream.stats();
    INFO("upstream /_stats:\n" << st.text);
    CHECK(st.count(path) == 2);
    CHECK(st.total == 2);
    CHECK(pttl(direct, key) > keep);  // fresh again
    CHECK(stack.counter_sum("stale_hits") >= 30);
    CHECK(stack.counter_sum("misses") == 1);  // only the very first GET waited for a load
    CHECK(stack.counter_sum("background_refreshes") >= 1);
    require_alive(stack);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("jittered TTLs stay within ttl +- jitter and spread out", "[integration][herd]") {
    route_options route;
    route.ttl = 10s;
    route.ttl_jitter = 0.2;
    route.stale_for = 0ms;
    route.stale_if_error = 0ms;  // PX = jittered ttl exactly
    herd_stack stack(route);
    auto c = stack.proxy_client();
    auto direct = stack.direct_client();

    std::set<long long> distinct;
    std::string seen;
    for (int i = 0; i < 50; ++i) {
        const std::string key = "product:j" + std::to_string(i);
        const auto t0 = steady::now();
        REQUIRE(c.cmd({"GET", key}) == value_of("/products/j" + std::to_string(i)));
        const long long p = pttl(direct, key);
        const long long elapsed = ms_since(t0);
        INFO(key << ": PTTL " << p << " ms, " << elapsed << " ms after the GET was sent");
        CHECK(p <= 12000);
        CHECK(p >= 8000 - elapsed - 1);
        distinct.insert((p + 5) / 10);
        seen += " " + std::to_string(p);
    }
    INFO("PTTLs:" << seen);
    CHECK(distinct.size() >= 10);
}

TEST_CASE("404 answers nil and is remembered for negative_ttl", "[integration][herd]") {
    route_options route;
    route.negative_ttl = 500ms;
    route.ttl_jitter = 0;  // the jitter applies to negative_ttl too
    herd_stack stack(route);
    auto c = stack.proxy_client();
    auto direct = stack.direct_client();
    const auto port = stack.proxy().port();
    const std::string key = "product:missing-n", path = "/products/missing-n";
    const std::string neg = "herdguard:neg:" + key;

    CHECK(c.cmd({"GET", key}) == "(nil)");
    CHECK(stack.upstream.count(path) == 1);
    const auto p = pttl(direct, neg);
    CHECK(p > 0);
    CHECK(p <= 500);
    CHECK(direct.cmd({"EXISTS", key}) == ":0");

    CHECK(c.cmd({"GET", key}) == "(nil)");  // within negative_ttl: no upstream request
    CHECK(stack.upstream.count(path) == 1);
    CHECK(route_counter(port, "negative_hits") == 1);

    REQUIRE(eventually([&] { return direct.cmd({"EXISTS", neg}) == ":0"; }, 2s));
    CHECK(c.cmd({"GET", key}) == "(nil)");  // remembered no longer: asks again
    CHECK(stack.upstream.count(path) == 2);
    CHECK(route_counter(port, "loads_not_found") == 2);
    require_alive(stack);
}

// ---------------------------------------------------------------------------------------------
// The fresh memo (src/herd/fresh_memo.h): a key a worker has seen fresh is read with GET alone,
// and a key deleted behind herdguard's back still reads nil and is loaded again.
namespace {

// calls=N of one command in Redis's INFO commandstats (0 when it never ran since CONFIG RESETSTAT).
long long redis_calls(client& direct, const std::string& command) {
    const auto fields = info_fields(direct.cmd_reply({"INFO", "commandstats"}).str);
    auto it = fields.find("cmdstat_" + command);
    if (it == fields.end()) return 0;
    const auto at = it->second.find("calls=");
    return at == std::string::npos ? -1 : std::stoll(it->second.substr(at + 6));
}

}  // namespace

TEST_CASE("fresh hits read GET alone; a key deleted behind herdguard's back is loaded again",
          "[integration][herd]") {
    route_options route;  // ttl 60s, stale_for 30s
    route.stale_if_error = 0ms;
    herd_stack stack(route);
    auto c = stack.proxy_client();
    auto direct = stack.direct_client();
    REQUIRE(c.cmd({"GET", "product:m"}) == value_of("/products/m"));
    REQUIRE(direct.cmd({"CONFIG", "RESETSTAT"}) == "+OK");

    constexpr int hits = 50;
    for (int i = 0; i < hits; ++i) REQUIRE(c.cmd({"GET", "product:m"}) == value_of("/products/m"));
    const long long gets = redis_calls(direct, "get");
    const long long pttls = redis_calls(direct, "pttl");
    INFO("redis saw " << gets << " GET and " << pttls << " PTTL for " << hits << " hits");
    CHECK(gets == hits);
    // The first hit learns the fresh window (GET + PTTL); the rest need GET alone. The memo
    // looks again at most every second, so a slow machine may add one more.
    CHECK(pttls >= 1);
    CHECK(pttls <= 2);
    CHECK(route_counter(stack.proxy().port(), "hits") == hits);
    CHECK(route_counter(stack.proxy().port(), "memo_hits") == hits - pttls);

    // Deleted in Redis directly, not through herdguard: the memo still says fresh, but GET reads
    // nil, so this is a miss that loads, as without the memo.
    REQUIRE(direct.cmd({"DEL", "product:m"}) == ":1");
    CHECK(c.cmd({"GET", "product:m"}) == value_of("/products/m", 2));
    CHECK(stack.upstream.total() == 2);

    // Overwritten through herdguard with a short TTL: the worker forgets the key, so the next
    // read sees the value is past its fresh time (Redis keeps a value 30 s past fresh; 2 s left
    // means 28 s past, within stale_for) and refreshes it in the background.
    REQUIRE(c.cmd({"SET", "product:m", "client-value", "PX", "2000"}) == "+OK");
    CHECK(c.cmd({"GET", "product:m"}) == "$client-value");
    CHECK(eventually([&] { return stack.upstream.total() == 3; }, 3s));
    CHECK(route_counter(stack.proxy().port(), "background_refreshes") == 1);
    require_alive(stack);
}

// Early refresh (XFetch): a key read all the time is refreshed before it expires, by one load,
// and no read in between is a miss. (How early, and how many loads per expiry under a crowd of
// readers, are measured in bench/, not asserted here.)
TEST_CASE("early_refresh: a key read continuously is reloaded before it expires", "[integration][herd]") {
    route_options route;
    route.ttl = 1500ms;
    route.ttl_jitter = 0;
    route.early_refresh_beta = 5;
    herd_stack stack(route);
    stack.upstream.control("latency_ms=20");  // a load time to measure (XFetch's delta)
    auto c = stack.proxy_client();
    const auto port = stack.proxy().port();
    const std::string key = "product:early", path = "/products/early";
    const std::string first = c.cmd({"GET", key});
    REQUIRE(first.rfind("$", 0) == 0);
    std::string last = first;
    bool refreshed = false;
    const auto deadline = steady::now() + 6s;  // the value is fresh for 1.5 s
    for (int i = 0; !refreshed && steady::now() < deadline; ++i) {
        last = c.cmd({"GET", key});
        REQUIRE(last.rfind("$", 0) == 0);
        if (i % 25 == 0) refreshed = route_counter(port, "early_refreshes") >= 1 && stack.upstream.count(path) >= 2;
    }
    INFO(stack.logs());
    REQUIRE(refreshed);
    CHECK(route_counter(port, "misses") == 1);  // only the first read, before anything was cached
    CHECK(route_counter(port, "background_refreshes") == 0);
    REQUIRE(eventually([&] { return c.cmd({"GET", key}) != first; }, 2s));  // the reloaded value
    require_alive(stack);
}
