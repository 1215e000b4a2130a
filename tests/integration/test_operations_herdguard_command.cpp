// Operating herdguard, the HERDGUARD command: FLIGHTS shows a slow load while it runs, and
// ROUTES, CONFIG (password masked), HELP and STATS answer as documented. Real redis-server, real
// herdguard processes and the scriptable demo upstream.
//
// Waiting: every wait is an event polled with a bound (HERDGUARD FLIGHTS).
#include <charconv>
#include <map>
#include <string>
#include <system_error>
#include <vector>

#include "harness.h"
#include "operations_helpers.h"
#include "test_support.h"

using namespace herdguard::test;

// ---------------------------------------------------------------------------------------------
TEST_CASE("HERDGUARD FLIGHTS shows a slow load; ROUTES, CONFIG, HELP, STATS",
          "[integration][ops]") {
    const std::string password = "s3cret-Pa55";
    ops_options o;
    o.redis_password = password;
    ops_stack stack(route_options{}, o);
    stack.upstream.control("latency_ms=1000");
    auto waiter = stack.proxy_client(3s);
    auto ops = stack.proxy_client();

    CHECK(ops.cmd({"HERDGUARD", "FLIGHTS"}) == "*[]");
    waiter.append({"GET", "product:f"});
    REQUIRE(waiter.flush());
    std::vector<std::map<std::string, std::string>> flights;
    std::string raw;
    const bool seen = eventually(
        [&] {
            auto r = ops.cmd_reply({"HERDGUARD", "FLIGHTS"});
            raw = r.canonical();
            flights = list_of_pairs(r);
            return !flights.empty();
        },
        900ms, 10ms);
    {
        INFO("FLIGHTS: " << raw << "\n" << stack.logs());
        REQUIRE(seen);
        REQUIRE(flights.size() == 1);
        auto& f = flights[0];
        CHECK(f["route"] == "products");
        CHECK(f["key"] == "product:f");
        CHECK(f["waiters"] == "1");
        CHECK(f["kind"] == "load");
        long long age = -1;
        const auto& a = f["age_ms"];
        auto [p, ec] = std::from_chars(a.data(), a.data() + a.size(), age);
        CHECK(ec == std::errc{});
        CHECK(age >= 0);
        CHECK(age < 1500);
    }
    CHECK(waiter.get_reply() == value_of("/products/f"));
    CHECK(eventually([&] { return ops.cmd({"HERDGUARD", "FLIGHTS"}) == "*[]"; }, 1s));

    {
        auto routes = list_of_pairs(ops.cmd_reply({"HERDGUARD", "ROUTES"}));
        REQUIRE(routes.size() == 1);
        auto& r = routes[0];
        CHECK(r["name"] == "products");
        CHECK(r["match"] == "product:*");
        CHECK(r["upstream"] == stack.upstream.url());
        CHECK(r["breaker_state"] == "closed");
        CHECK(r["waiters_now"] == "0");
        CHECK(r["loads_in_flight"] == "0");
    }
    {
        auto reply = ops.cmd_reply({"HERDGUARD", "CONFIG"});
        INFO("CONFIG: " << reply.canonical());
        auto cfg = pairs_of(reply);
        CHECK(cfg["redis.password"] == "********");
        CHECK(reply.canonical().find(password) == std::string::npos);
        CHECK(cfg["routes"] == "1");
        CHECK(cfg["source"] == stack.proxy->config_path().string());
        CHECK(cfg["admin.listen"] == "127.0.0.1:" + std::to_string(stack.admin()));
    }
    {
        auto help = ops.cmd_reply({"HERDGUARD", "HELP"});
        INFO("HELP: " << help.canonical());
        REQUIRE(help.type == reply::kind::array);
        CHECK(help.elements.size() >= 5);
        for (const auto& line : help.elements) CHECK(line.type == reply::kind::status);
        REQUIRE(!help.elements.empty());
        CHECK(help.elements[0].str.rfind("HERDGUARD", 0) == 0);
        for (const char* sub : {"ROUTES", "STATS", "FLIGHTS", "CONFIG", "HELP"})
            CHECK(help.canonical().find(sub) != std::string::npos);
    }
    {
        auto stats = pairs_of(ops.cmd_reply({"HERDGUARD", "STATS", "products"}));
        CHECK(stats["requests"] == "1");
        CHECK(stats["loads_ok"] == "1");
        CHECK(stats["breaker_state"] == "closed");
        auto all = pairs_of(ops.cmd_reply({"HERDGUARD", "STATS"}));
        CHECK(all["route:products:requests"] == "1");
        CHECK(all.count("commands") == 1);
        CHECK(ops.cmd({"HERDGUARD", "STATS", "nosuch"}).rfind("-ERR no such route", 0) == 0);
    }
    auto bogus = ops.cmd_reply({"HERDGUARD", "BOGUS"});
    INFO("BOGUS: " << bogus.canonical());
    CHECK(bogus.is_error());
    CHECK(bogus.str.rfind("ERR unknown subcommand", 0) == 0);
    CHECK(ops.cmd({"herdguard", "flights"}) == "*[]");  // case-insensitive
    CHECK(ops.cmd_reply({"HERDGUARD"}).is_error());
    CHECK(stack.upstream.total() == 1);
    require_alive(stack);
}

// Hot keys (issue 12): every worker samples its reads, publishes them once a second, and
// HERDGUARD HOTKEYS and /metrics (with admin.hot_keys_in_metrics) show the merged top keys.
// Reads keep coming while the test polls, since the board shows the last second.
TEST_CASE("HERDGUARD HOTKEYS and /metrics show the keys read most", "[integration][ops]") {
    herdguard_options o;
    o.admin = "auto";
    o.config_yaml = "admin:\n  hot_keys_in_metrics: true\n";
    proxy_stack stack(o);
    auto c = stack.proxy_client();
    auto ops = stack.proxy_client();
    REQUIRE(c.cmd({"SET", "hot", "v"}) == "+OK");
    std::vector<std::vector<std::string>> batch;
    for (int i = 0; i < 2000; ++i) batch.push_back({"GET", "hot"});
    for (int i = 0; i < 100; ++i) batch.push_back({"GET", "cold:" + std::to_string(i)});
    batch.push_back({"MGET", "warm", "hot"});
    std::vector<std::map<std::string, std::string>> top;
    std::string raw;
    const bool seen = eventually(
        [&] {
            c.pipeline(batch);
            auto r = ops.cmd_reply({"HERDGUARD", "HOTKEYS", "3"});
            raw = r.canonical();
            top = list_of_pairs(r);
            return !top.empty() && top[0]["key"] == "hot";
        },
        10s, 50ms);
    INFO(raw);
    REQUIRE(seen);
    CHECK(top.size() <= 3);
    CHECK(std::stod(top[0]["reads_per_second"]) > 0);
    CHECK(top[0]["in_l1"] == "no");
    const std::string metrics = http_get(stack.proxy.admin_port(), "/metrics").body;
    CHECK(metrics.find("herdguard_hot_key_reads_per_second{key=\"hot\",in_l1=\"no\"} ") != std::string::npos);
    CHECK(ops.cmd({"HERDGUARD", "HOTKEYS", "0"}).rfind("-ERR HOTKEYS count must be from 1 to", 0) == 0);
    CHECK(ops.cmd({"HERDGUARD", "HOTKEYS", "x"}).rfind("-ERR HOTKEYS count", 0) == 0);
    require_proxy_alive(stack);
}
