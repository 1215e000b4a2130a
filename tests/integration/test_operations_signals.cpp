// Operating herdguard, signals: a graceful SIGTERM drain (waiting clients get their value, new
// connections are refused, exit 0) and a SIGHUP route reload (a broken file is rejected and the
// old routes stay). Real redis-server, real herdguard processes (signalled by PID) and the
// scriptable demo upstream.
//
// Waiting: every wait is an event polled with a bound (the upstream's /_stats, INFO herdguard,
// /readyz, the process's exit, its log).
#include <sys/wait.h>

#include <csignal>
#include <fstream>
#include <string>
#include <utility>
#include <vector>

#include "harness.h"
#include "operations_helpers.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

std::size_t occurrences(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string::npos;
         at = haystack.find(needle, at + needle.size()))
        ++n;
    return n;
}

// True when a new RESP connection is refused, or accepted and closed without an answer.
bool refuses_new_connections(std::uint16_t port) {
    try {
        raw_conn c(port, 500ms);
        if (!c.send(encode_command({"PING"}))) return true;
        if (!c.read_reply(500ms).empty()) return false;
        return c.wait_closed(500ms);
    } catch (const harness_error&) {
        return true;  // connect failed
    }
}

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("SIGTERM drains: waiting clients get their value, then exit 0", "[integration][ops]") {
    ops_options o;
    o.shutdown_timeout = 5s;
    route_options route;
    route.load_timeout = 3s;  // the load (1.5 s) must not time out
    ops_stack stack(route, o);
    stack.upstream.control("latency_ms=1500");
    const auto port = stack.port();
    const auto admin = stack.admin();
    REQUIRE(becomes_ready(admin));
    crowd clients({port}, 20);

    clients.send_all({"GET", "product:drain"});
    REQUIRE(eventually([&] { return stack.upstream.count("/products/drain") == 1; }, 2s));
    REQUIRE(eventually([&] { return route_counter(port, "waiters_now") == 20; }, 2s));

    stack.proxy->signal(SIGTERM);
    const auto term_at = steady::now();

    // While the load runs: not ready, and no new connections.
    std::string body;
    int status = 0;
    CHECK(eventually(
        [&] {
            status = readyz_status(admin, &body);
            return status == 503;
        },
        1s));
    CHECK(body == "draining\n");
    CHECK(eventually([&] { return refuses_new_connections(port); }, 1s));
    const auto checked_after = ms_since(term_at);
    {
        INFO("readyz and the refused connection were checked " << checked_after
                                                               << " ms after SIGTERM\n"
                                                               << stack.logs());
        CHECK(stack.proxy->running());  // the checks above ran during the drain
    }

    auto replies = clients.collect(4s);
    {
        INFO("replies:\n" << summarize(replies) << stack.logs());
        CHECK(count_of(replies, value_of("/products/drain")) == 20);
    }

    const bool exited =
        stack.proxy->wait_exit(o.shutdown_timeout.value() + 2s - milliseconds(ms_since(term_at)));
    const auto exit_after = ms_since(term_at);
    INFO("exit " << exit_after << " ms after SIGTERM: " << stack.proxy->describe_exit() << "\n"
                 << stack.logs());
    REQUIRE(exited);
    CHECK(exit_after < o.shutdown_timeout->count());
    REQUIRE(stack.proxy->wait_status().has_value());
    const int st = *stack.proxy->wait_status();
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(stack.proxy->log_tail(100000).find("shutdown_timeout reached") == std::string::npos);
    CHECK(stack.upstream.total() == 1);
    CHECK(refuses_new_connections(port));
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("SIGHUP reloads routes; a broken file is rejected and the old routes stay",
          "[integration][ops]") {
    ops_stack stack;
    const auto port = stack.port();
    route_options items;
    items.name = "items";
    items.match = "item:*";
    items.upstream = stack.upstream.url("/items/{1}");

    auto first = stack.proxy_client();
    REQUIRE(first.cmd({"GET", "product:1"}) == value_of("/products/1"));
    CHECK(first.cmd({"GET", "item:1"}) == "(nil)");  // unrouted: plain Redis
    CHECK(stack.upstream.count("/items/1") == 0);

    std::ofstream(stack.proxy->config_path(), std::ios::trunc)
        << stack.config_with(stack.route, {items});
    stack.proxy->signal(SIGHUP);
    const auto hup_at = steady::now();

    std::string last;
    const bool routed = eventually(
        [&] {
            last = stack.proxy_client().cmd({"GET", "item:2"});
            return last == value_of("/items/2");
        },
        3s, 50ms);
    {
        INFO("last GET item:2: " << last << " " << ms_since(hup_at) << " ms after SIGHUP\n"
                                 << stack.logs());
        REQUIRE(routed);
    }
    // The connection from before the reload is still there, and routed by the new routes.
    CHECK(first.cmd({"PING"}) == "+PONG");
    CHECK(first.cmd({"GET", "item:1"}) == value_of("/items/1"));
    CHECK(first.cmd({"GET", "product:1"}) == value_of("/products/1"));  // still cached
    CHECK(first.cmd({"GET", "product:2"}) == value_of("/products/2"));
    {
        auto routes = list_of_pairs(first.cmd_reply({"HERDGUARD", "ROUTES"}));
        REQUIRE(routes.size() == 2);
        CHECK(routes[0]["name"] == "products");
        CHECK(routes[1]["name"] == "items");
        CHECK(routes[1]["match"] == "item:*");
    }
    // The unchanged route kept its runtime: its counters carry over.
    CHECK(route_counter(port, "requests") == 3);
    CHECK(route_counter(port, "requests", "items") == 2);

    // Broken files: YAML that does not parse, then YAML that does not validate.
    const std::vector<std::pair<std::string, std::string>> broken = {
        {"bad YAML", "routes:\n  - name: items\n    match: [unclosed\n"},
        {"bad route", stack.config_with(stack.route, {items}) + "    bogus_field: 1\n"},
    };
    for (std::size_t i = 0; i < broken.size(); ++i) {
        INFO(broken[i].first);
        std::ofstream(stack.proxy->config_path(), std::ios::trunc) << broken[i].second;
        stack.proxy->signal(SIGHUP);
        CHECK(eventually(
            [&] { return occurrences(stack.proxy->log_tail(1000000), "reload rejected") == i + 1; },
            2s));
        require_alive(stack);
        const std::string key = "item:" + std::to_string(3 + i);
        const std::string path = "/items/" + std::to_string(3 + i);
        CHECK(stack.proxy_client().cmd({"GET", key}) == value_of(path));  // still routed: loads
        CHECK(first.cmd({"GET", "product:" + std::to_string(3 + i)}) ==
              value_of("/products/" + std::to_string(3 + i)));
        CHECK(list_of_pairs(first.cmd_reply({"HERDGUARD", "ROUTES"})).size() == 2);
    }
    INFO(stack.logs());
    CHECK(stack.upstream.count("/items/3") == 1);
    CHECK(stack.upstream.count("/items/4") == 1);
    require_alive(stack);
}
