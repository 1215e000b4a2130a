// Faults and abuse, a flood of waiters on one missing key: one upstream request however many
// wait, every waiter answered at a bounded cost per waiter, and with a small max_waiters the
// excess is shed at once. Real redis-server, real herdguard processes (stopped by PID) and the
// scriptable demo upstream; memory is judged by the proxy's VmRSS (see faults_helpers.h).
//
// Waiting: every wait is bounded (socket polls with deadlines, `eventually`, crowd collects).
#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "faults_helpers.h"
#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

// ---------------------------------------------------------------------------------------------
// A flood of waiters on one missing key: one upstream request, every waiter answered, and a
// bounded cost per waiter; with a small max_waiters the excess is shed at once.
//
// The issue asks for 50,000 concurrent requests. This machine's RLIMIT_NOFILE hard limit is
// 20,000 (not raisable without CAP_SYS_RESOURCE), and both this process and the proxy hold one fd
// per client, so the test opens as many clients as the limit allows (about 19,000 here; at most
// 20,000) and each pipelines enough GETs that 50,000 or more wait at once: the proxy keeps one
// waiter per request, pipelined or not. It prints the numbers.
namespace {

std::size_t flood_clients() {
    const std::size_t hard = fd_hard_limit();
    return std::min<std::size_t>(20000, hard > 2000 ? hard - 1100 : 0);
}

long long slowest(const std::vector<crowd_reply>& replies, const std::string& text) {
    long long worst = 0;
    for (const auto& r : replies)
        if (r.text == text) worst = std::max<long long>(worst, r.latency.count());
    return worst;
}

}  // namespace

TEST_CASE("waiter flood: 50,000 requests on one missing key, one upstream request",
          "[integration][faults]") {
    const std::size_t n = flood_clients();
    REQUIRE(n >= 1000);
    constexpr std::size_t wanted = 50000;
    const std::size_t depth = (wanted + n - 1) / n;  // GETs pipelined per client
    const std::size_t requests = n * depth;
    raise_fd_limit(n + 1024);  // before the proxy starts: it inherits the limit
    route_options route;
    route.max_waiters = requests;
    route.wait_timeout = 10s;
    // The upstream answers after 1.5 s while the worker takes in 56,700 requests; under ASan
    // that takes the worker past the default 2 s load_timeout before it reads the answer. The
    // flood, not the load timeout, is under test here.
    route.load_timeout = 8s;
    // herd_stack's config has no limits: block; the default max_clients (10,000) is too few.
    temp_dir dir;
    redis_server redis(dir);
    demo_upstream upstream(dir, 1500);
    route.upstream = upstream.url();
    herdguard_options opts;  // --threads 2
    opts.config_yaml = herdguard_config(redis.port(), route) + "limits:\n  max_clients: 25000\n";
    herdguard_proc proxy(dir, redis.port(), opts);
    const auto port = proxy.port();
    const auto pid = proxy.pid();

    auto t0 = steady::now();
    crowd clients({port}, n, 60s);
    const auto connect_ms = ms_since(t0);
    client watcher(port);
    std::this_thread::sleep_for(100ms);
    const std::size_t base = process_rss_bytes(pid);

    // While the crowd waits: sample RSS and waiters_now from another thread.
    std::atomic<bool> done{false};
    std::atomic<std::size_t> peak_rss{base};
    std::atomic<long long> peak_waiters{0};
    std::atomic<long long> rss_at_peak_waiters{0};
    std::thread sampler([&] {
        while (!done) {
            try {
                const auto w = herdguard_counter(watcher, "route_products_waiters_now");
                const auto rss_now = process_rss_bytes(pid);
                if (rss_now > peak_rss) peak_rss = rss_now;
                if (w > peak_waiters) {
                    peak_waiters = w;
                    rss_at_peak_waiters = static_cast<long long>(rss_now);
                }
            } catch (const harness_error&) {
                return;
            }
            std::this_thread::sleep_for(20ms);
        }
    });

    t0 = steady::now();
    auto replies = clients.request_all({"GET", "product:flood"}, 20s, depth);
    const auto all_ms = ms_since(t0);
    done = true;
    sampler.join();

    const std::string value = "$value:/products/flood#1";
    auto st = upstream.stats();
    const long long waiters = peak_waiters;
    const std::size_t grown = peak_rss > base ? peak_rss - base : 0;
    const std::size_t per_waiter = waiters > 0 ? grown / static_cast<std::size_t>(waiters) : 0;
    const std::string figure =
        "waiters: " + std::to_string(requests) + " requests from " + std::to_string(n) + " clients (" +
        std::to_string(depth) + " pipelined each; connect+PING " + std::to_string(connect_ms) +
        " ms), peak waiters_now " + std::to_string(waiters) + ", VmRSS " + mb_text(base) +
        " -> peak " + mb_text(peak_rss) + ", " + std::to_string(per_waiter) +
        " bytes per waiter; all answered in " + std::to_string(all_ms) + " ms";
    WARN(figure);
    record(dir, "bytes_per_waiter.txt", figure);

    INFO("replies:\n" << summarize(replies) << "upstream /_stats:\n" << st.text);
    CHECK(replies.size() == requests);
    CHECK(count_of(replies, value) == requests);
    CHECK(st.total == 1);
    CHECK(route_counter(port, "loads_ok") == 1);
    // Nearly all of them waited at the same time (the load takes 1.5 s).
    CHECK(waiters >= static_cast<long long>(wanted));
    CHECK_MEMORY_BOUND(per_waiter < 16 * kib);
    CHECK(eventually([&] { return route_counter(port, "waiters_now") == 0; }, 2s));
    require_running(proxy);
}

TEST_CASE("waiter flood: beyond max_waiters 100 clients get -BUSY at once",
          "[integration][faults]") {
    // 2,000 clients: enough to exceed 100 by far, few enough that the crowd's own send loop
    // and a debug build's processing fit in the 200 ms the shed replies must take.
    constexpr std::size_t n = 2000;
    route_options route;
    route.max_waiters = 100;
    route.wait_timeout = 10s;
    herd_stack stack(route);
    stack.upstream.control("latency_ms=1500");
    const auto port = stack.proxy().port();
    crowd clients({port}, n);

    auto replies = clients.request_all({"GET", "product:flood"}, 5s);
    const std::string value = "$value:/products/flood#1";
    const std::string busy = "-BUSY herdguard: too many waiters for key";
    auto st = stack.upstream.stats();
    INFO("replies:\n" << summarize(replies) << "upstream /_stats:\n" << st.text);
    CHECK(count_of(replies, value) == 100);
    CHECK(count_of(replies, busy) == n - 100);
    WARN("max_waiters 100, " << n << " clients: slowest -BUSY " << slowest(replies, busy)
                             << " ms, slowest value " << slowest(replies, value) << " ms");
    CHECK(slowest(replies, busy) <= 200);
    CHECK(st.total == 1);
    CHECK(route_counter(port, "waiters_rejected") == static_cast<long long>(n - 100));
    CHECK(route_counter(port, "waiters_now") == 0);
    require_running(stack.proxy());
}
