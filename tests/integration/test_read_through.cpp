// Herd-proof read-through GET (src/herd/read_through.cpp): real redis-server, real herdguard
// processes and the scriptable demo upstream. The upstream counts every request per path and
// answers "value:<path>#<n>", so a reply says which load produced it and /_stats says how many
// loads there were.
//
// Waiting: every wait is an event polled with a bound (the upstream's /_stats, INFO herdguard,
// PTTL in Redis). The two exceptions are documented time-based transitions: a lease that expires
// after lock_ttl and a breaker that half-opens after open_for; they are polled too, and the tests
// check they did not happen early.
#include <algorithm>
#include <map>
#include <optional>
#include <set>
#include <thread>

#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

using steady = std::chrono::steady_clock;

const std::string busy = "-BUSY herdguard: too many waiters for key";

// "-ERR herdguard: upstream 'products' unavailable (<why>)"
std::string unavailable(const std::string& why) {
    return "-ERR herdguard: upstream 'products' unavailable (" + why + ")";
}
const std::string unavailable_prefix = "-ERR herdguard: upstream 'products' unavailable (";
const std::string circuit_open = unavailable("circuit open");

// The demo upstream's answer to the n-th request for `path`, as a canonical bulk reply.
std::string value_of(const std::string& path, int n = 1) {
    return "$value:" + path + "#" + std::to_string(n);
}

long long ms_since(steady::time_point t0) {
    return std::chrono::duration_cast<milliseconds>(steady::now() - t0).count();
}

long long pttl(client& direct, const std::string& key) {
    auto r = direct.cmd_reply({"PTTL", key});
    if (r.type != reply::kind::integer) throw harness_error("PTTL " + key + ": " + r.canonical());
    return r.integer;
}

std::size_t count_of(const std::vector<crowd_reply>& replies, const std::string& text) {
    return static_cast<std::size_t>(std::count_if(
        replies.begin(), replies.end(), [&](const crowd_reply& r) { return r.text == text; }));
}

long long slowest(const std::vector<crowd_reply>& replies) {
    long long worst = 0;
    for (const auto& r : replies) worst = std::max<long long>(worst, r.latency.count());
    return worst;
}

// Fails the test with every log tail if any herdguard that should be running died.
void require_alive(herd_stack& stack, std::initializer_list<std::size_t> which = {}) {
    std::vector<std::size_t> idx(which);
    if (idx.empty())
        for (std::size_t i = 0; i < stack.proxies.size(); ++i) idx.push_back(i);
    for (auto i : idx) {
        INFO("herdguard #" << i << ":\n" << stack.logs());
        REQUIRE(stack.proxy(i).running());
    }
}

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

std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Single flight, one process: 1000 concurrent misses of one key make one upstream request.
TEST_CASE("SingleFlight", "[integration][herd]") {
    herd_stack stack(route_options{});  // --threads 2
    stack.upstream.control("latency_ms=200");
    const auto port = stack.proxy().port();
    crowd clients({port}, 1000);

    auto replies = clients.request_all({"GET", "product:1"}, 5s);
    auto st = stack.upstream.stats();
    INFO("replies:\n" << summarize(replies) << "upstream /_stats:\n" << st.text);
    CHECK(count_of(replies, value_of("/products/1")) == 1000);
    CHECK(st.total == 1);
    CHECK(st.count("/products/1") == 1);

    CHECK(route_counter(port, "requests") == 1000);
    CHECK(route_counter(port, "loads_ok") == 1);
    CHECK(route_counter(port, "lock_acquired") == 1);
    // The crowd really was concurrent: most misses joined the one flight in this process.
    CHECK(route_counter(port, "coalesced") >= 500);
    CHECK(route_counter(port, "waiters_now") == 0);
    CHECK(stack.direct_client().cmd({"GET", "product:1"}) == value_of("/products/1"));
    require_alive(stack);
}

// Single flight across processes: the Redis lease makes 3 instances load once between them.
TEST_CASE("DistributedLock", "[integration][herd]") {
    herd_stack stack(route_options{}, 3);
    stack.upstream.control("latency_ms=300");
    crowd clients(stack.proxy_ports(), 900);  // round-robin: 300 per instance

    auto replies = clients.request_all({"GET", "product:2"}, 5s);
    auto st = stack.upstream.stats();
    INFO("replies:\n" << summarize(replies) << "upstream /_stats:\n" << st.text);
    CHECK(count_of(replies, value_of("/products/2")) == 900);
    CHECK(st.total == 1);
    CHECK(st.count("/products/2") == 1);
    for (std::size_t i = 0; i < 3; ++i) {
        INFO("instance #" << i);
        CHECK(route_counter(stack.proxy(i).port(), "requests") == 300);
    }
    CHECK(stack.counter_sum("lock_acquired") == 1);
    CHECK(stack.counter_sum("loads_ok") == 1);
    // The other instances found the lease held and waited for the holder's value.
    CHECK(stack.counter_sum("lock_contended") >= 1);
    require_alive(stack);
}

// The lease holder dies mid-load: its lease expires after lock_ttl and exactly one other instance
// takes it over; waiters elsewhere get the value (or a clear error) within wait_timeout + lock_ttl.
TEST_CASE("DistributedLock: holder killed", "[integration][herd]") {
    route_options route;
    route.lock_ttl = 1s;
    route.wait_timeout = 3s;
    route.load_timeout = 5s;  // longer than lock_ttl on purpose: only the lease expiry frees it
    herd_stack stack(route, 3);
    const std::string key = "product:h", path = "/products/h";
    const auto b = stack.proxy(1).port(), c = stack.proxy(2).port();
    crowd clients({b, c}, 100);  // connected (and PINGed) up front
    stack.upstream.control("hang=1");

    // Instance A takes the lease and starts a load that never answers.
    raw_conn holder_client(stack.proxy(0).port());
    const auto sent_at = steady::now();
    REQUIRE(holder_client.send(encode_command({"GET", key})));
    REQUIRE(eventually([&] { return stack.upstream.count(path) == 1; }, 2s));
    REQUIRE(route_counter(stack.proxy(0).port(), "lock_acquired") == 1);

    // Clients on B and C ask; both instances find A's lease and wait on it.
    clients.send_all({"GET", key});
    REQUIRE(eventually(
        [&] {
            return route_counter(b, "lock_contended") == 1 &&
                   route_counter(c, "lock_contended") == 1;
        },
        2s));

    stack.proxy(0).kill9();
    stack.upstream.control("hang=0&latency_ms=100");

    // Nobody loads again before A's lease runs out; then one instance takes it over.
    REQUIRE(eventually([&] { return stack.upstream.count(path) >= 2; }, 3s, 10ms));
    const auto second_load_after = ms_since(sent_at);
    CHECK(second_load_after >= route.lock_ttl.count());

    const auto bound = route.wait_timeout + route.lock_ttl;
    auto replies = clients.collect(bound + 1s);
    auto st = stack.upstream.stats();
    INFO("second load " << second_load_after << " ms after A's GET; replies:\n"
                        << summarize(replies) << "slowest " << slowest(replies)
                        << " ms; upstream /_stats:\n"
                        << st.text << stack.logs());
    for (const auto& r : replies) {
        CHECK(r.answered);
        CHECK(r.latency <= bound);
        CHECK((r.text == value_of(path, 2) || r.text.rfind(unavailable_prefix, 0) == 0));
    }
    // With these timings (takeover ~1.1 s, load 100 ms, wait_timeout 3 s) everyone gets it.
    CHECK(count_of(replies, value_of(path, 2)) == replies.size());
    CHECK(st.count(path) == 2);
    CHECK(st.total == 2);
    CHECK(stack.counter_sum("lock_taken_over") == 1);
    CHECK(stack.direct_client().cmd({"GET", key}) == value_of(path, 2));
    CHECK(holder_client.wait_closed(1s));  // A is gone; its client saw the connection close
    require_alive(stack, {1, 2});
}

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

TEST_CASE("stale-set race: a client write during a load wins over the load's write-back",
          "[integration][herd]") {
    herd_stack stack(route_options{});
    stack.upstream.control("latency_ms=500");
    auto a = stack.proxy_client(0, 3s);
    auto b = stack.proxy_client();
    auto direct = stack.direct_client();
    const auto port = stack.proxy().port();

    // SET while the load runs: the client's value stays, without a TTL.
    a.append({"GET", "product:r"});
    REQUIRE(a.flush());
    REQUIRE(eventually([&] { return stack.upstream.count("/products/r") == 1; }, 2s));
    CHECK(b.cmd({"SET", "product:r", "mine"}) == "+OK");
    auto got = a.get_reply();
    INFO("A's reply: " << got);
    CHECK((got == value_of("/products/r") || got == "$mine"));
    CHECK(direct.cmd({"GET", "product:r"}) == "$mine");
    CHECK(direct.cmd({"PTTL", "product:r"}) == ":-1");
    CHECK(direct.cmd({"EXISTS", "herdguard:lock:product:r"}) == ":0");
    CHECK(route_counter(port, "lock_lost_at_write") >= 1);

    // DEL while the load runs: nothing is written.
    a.append({"GET", "product:r2"});
    REQUIRE(a.flush());
    REQUIRE(eventually([&] { return stack.upstream.count("/products/r2") == 1; }, 2s));
    CHECK(b.cmd({"DEL", "product:r2"}) == ":0");
    got = a.get_reply();
    CHECK((got == value_of("/products/r2") || got == "(nil)"));
    CHECK(direct.cmd({"EXISTS", "product:r2"}) == ":0");
    CHECK(route_counter(port, "lock_lost_at_write") >= 2);

    CHECK(b.cmd({"GET", "product:r"}) == "$mine");  // a client's value without TTL is a hit
    CHECK(stack.upstream.total() == 2);
    require_alive(stack);
}

TEST_CASE("max_waiters: the overflow gets -BUSY at once, the waiters get the value",
          "[integration][herd]") {
    route_options route;
    route.max_waiters = 10;
    herd_stack stack(route);
    stack.upstream.control("latency_ms=500");
    const auto port = stack.proxy().port();
    crowd clients({port}, 50);

    auto replies = clients.request_all({"GET", "product:o"}, 3s);
    INFO("replies:\n" << summarize(replies));
    CHECK(count_of(replies, busy) == 40);
    CHECK(count_of(replies, value_of("/products/o")) == 10);
    for (const auto& r : replies) {
        if (r.text == busy) CHECK(r.latency < 200ms);
    }
    CHECK(stack.upstream.total() == 1);
    CHECK(route_counter(port, "waiters_rejected") == 40);
    require_alive(stack);
}

TEST_CASE("a client hanging up mid-wait does not disturb the load or the other waiters",
          "[integration][herd]") {
    herd_stack stack(route_options{});
    stack.upstream.control("latency_ms=500");
    const auto port = stack.proxy().port();
    crowd clients({port}, 20);

    clients.send_all({"GET", "product:d"});
    REQUIRE(eventually([&] { return stack.upstream.count("/products/d") == 1; }, 2s));
    REQUIRE(eventually([&] { return route_counter(port, "waiters_now") == 20; }, 2s));
    for (std::size_t i = 0; i < 5; ++i) clients.close(i);  // the first ones, likely the starter

    auto replies = clients.collect(3s);
    replies.erase(replies.begin(), replies.begin() + 5);
    INFO("replies of the 15 that stayed:\n" << summarize(replies));
    CHECK(count_of(replies, value_of("/products/d")) == 15);
    CHECK(stack.upstream.total() == 1);
    CHECK(eventually([&] { return route_counter(port, "waiters_now") == 0; }, 2s));
    CHECK(route_counter(port, "loads_in_flight") == 0);
    CHECK(stack.proxy_client().cmd({"GET", "product:d"}) == value_of("/products/d"));
    require_alive(stack);
}

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
