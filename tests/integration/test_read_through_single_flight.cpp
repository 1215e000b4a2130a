// Herd-proof read-through GET (src/herd/read_through.cpp), single flight and its waiters: one
// load per key within a process and, through the Redis lease, across processes; a lease holder
// killed mid-load; a client write racing a load's write-back; max_waiters; a waiter that hangs
// up. Real redis-server, real herdguard processes and the scriptable demo upstream, which counts
// every request per path and answers "value:<path>#<n>", so a reply says which load produced it
// and /_stats says how many loads there were.
//
// Waiting: every wait is an event polled with a bound (the upstream's /_stats, INFO herdguard).
// The one exception is a documented time-based transition: a lease that expires after lock_ttl;
// it is polled too, and the test checks it did not happen early.
#include <string>
#include <vector>

#include "harness.h"
#include "read_through_helpers.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

const std::string busy = "-BUSY herdguard: too many waiters for key";

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

TEST_CASE("stale-set race: a client write during a load wins over the load's write-back",
          "[integration][herd]") {
    herd_stack stack(route_options{});
    stack.upstream.control("latency_ms=500");
    auto a = stack.proxy_client(0, 3s);
    auto b = stack.proxy_client();
    auto direct = stack.direct_client();
    const auto port = stack.proxy().port();
    // A's GET of product:<id> starts a load; once the upstream has the request, `by` sends
    // `write`, which must answer `write_reply`. Returns A's reply.
    auto write_during_load = [&](const std::string& id, client& by, const std::vector<std::string>& write,
                                 const std::string& write_reply) {
        a.append({"GET", "product:" + id});
        REQUIRE(a.flush());
        REQUIRE(eventually([&] { return stack.upstream.count("/products/" + id) == 1; }, 2s));
        CHECK(by.cmd(write) == write_reply);
        return a.get_reply();
    };

    // SET through herdguard while the load runs: no revoke is sent for a write that gives the key
    // a value; the write-back sees the new value and gives way (-1, write_back_skipped), and
    // releases the lease. The client's value stays, without a TTL.
    auto got = write_during_load("r", b, {"SET", "product:r", "mine"}, "+OK");
    INFO("A's reply: " << got);
    CHECK((got == value_of("/products/r") || got == "$mine"));
    CHECK(direct.cmd({"GET", "product:r"}) == "$mine");
    CHECK(direct.cmd({"PTTL", "product:r"}) == ":-1");
    CHECK(direct.cmd({"EXISTS", "herdguard:lock:product:r"}) == ":0");
    CHECK(route_counter(port, "write_back_skipped") == 1);
    CHECK(route_counter(port, "lock_lost_at_write") == 0);

    // The same for a write straight to Redis, which herdguard never sees (another app, a script,
    // a migration): the load's write-back still gives way.
    got = write_during_load("d", direct, {"SET", "product:d", "theirs", "EX", "100"}, "+OK");
    CHECK((got == value_of("/products/d") || got == "$theirs"));
    CHECK(direct.cmd({"GET", "product:d"}) == "$theirs");
    CHECK(route_counter(port, "write_back_skipped") == 2);

    // A 404 during which a client wrote the key: the value stays (a 404's write-back would delete
    // it), and no 404 is remembered over it.
    stack.upstream.control("status=404");
    got = write_during_load("n", b, {"SET", "product:n", "made"}, "+OK");
    CHECK((got == "(nil)" || got == "$made"));
    CHECK(direct.cmd({"GET", "product:n"}) == "$made");
    CHECK(direct.cmd({"EXISTS", "herdguard:neg:product:n"}) == ":0");
    CHECK(route_counter(port, "write_back_skipped") == 3);
    stack.upstream.control("status=200");

    // DEL while the load runs leaves no value to compare: it revokes the lease, and nothing is
    // written.
    got = write_during_load("r2", b, {"DEL", "product:r2"}, ":0");
    CHECK((got == value_of("/products/r2") || got == "(nil)"));
    CHECK(direct.cmd({"EXISTS", "product:r2"}) == ":0");
    CHECK(route_counter(port, "lock_lost_at_write") == 1);

    // A stale value that merely expires during the load is no client's write: the loaded value
    // is written back. (PX 300 is past its fresh time at once, and still usable on error.)
    CHECK(direct.cmd({"SET", "product:e", "old", "PX", "300"}) == "+OK");
    a.append({"GET", "product:e"});
    REQUIRE(a.flush());
    got = a.get_reply();
    CHECK(got == value_of("/products/e"));
    CHECK(direct.cmd({"GET", "product:e"}) == value_of("/products/e"));
    CHECK(route_counter(port, "write_back_skipped") == 3);

    CHECK(b.cmd({"GET", "product:r"}) == "$mine");  // a client's value without TTL is a hit
    CHECK(stack.upstream.total() == 5);
    require_alive(stack);
}

// A remembered 404 is older than any value beside it (the 404's write-back deletes the value), so
// a value written since, and later stale, is refreshed instead of answered with the old 404.
TEST_CASE("a value written after a remembered 404 is not hidden by it", "[integration][herd]") {
    herd_stack stack(route_options{});
    auto c = stack.proxy_client();
    auto direct = stack.direct_client();
    stack.upstream.control("status=404");
    CHECK(c.cmd({"GET", "product:g"}) == "(nil)");
    CHECK(direct.cmd({"EXISTS", "herdguard:neg:product:g"}) == ":1");
    stack.upstream.control("status=200");
    // Written with a short TTL, so the next read finds it past its fresh time and loads.
    CHECK(c.cmd({"SET", "product:g", "later", "PX", "60000"}) == "+OK");
    const auto got = c.cmd({"GET", "product:g"});
    CHECK((got == "$later" || got == value_of("/products/g", 2)));  // stale served, or the load's (its 2nd)
    REQUIRE(eventually([&] { return direct.cmd({"GET", "product:g"}) == value_of("/products/g", 2); }, 3s));
    CHECK(direct.cmd({"EXISTS", "herdguard:neg:product:g"}) == ":0");
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
