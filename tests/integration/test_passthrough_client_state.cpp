// Pass-through behaviour, per-client state: MULTI/EXEC (with DISCARD and errors), WATCH aborts,
// an open MULTI that must not leak into other clients, and SELECT per client must look exactly
// like Redis through the proxy.
//
// Each sequence runs twice against the same redis-server, once through the proxy on keys "px:*"
// and once directly on keys "dx:*", and every reply pair must be equal (prefix normalised).
#include <string>
#include <vector>

#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

TEST_CASE("MULTI/EXEC returns the array of results, equal to direct Redis",
          "[integration][passthrough][transactions]") {
    run_comparison({
        {"MULTI"},
        {"SET", "{p}t", "1"},
        {"INCR", "{p}t"},
        {"GET", "{p}t"},
        {"LPUSH", "{p}tl", "a"},
        {"EXEC"},
        {"MULTI"},
        {"SET", "{p}t", "x"},
        {"DISCARD"},
        {"GET", "{p}t"},
        {"EXEC"},
        {"DISCARD"},
        // An error while queueing aborts the transaction.
        {"MULTI"},
        {"SET", "{p}t", "y"},
        {"NOSUCHCMD"},
        {"EXEC"},
        {"GET", "{p}t"},
        // A runtime error inside EXEC is one element of the result array.
        {"MULTI"},
        {"INCR", "{p}tl"},
        {"SET", "{p}t", "z"},
        {"EXEC"},
        {"MULTI"},
        {"MULTI"},
        {"DISCARD"},
    });
}

TEST_CASE("WATCH abort: EXEC returns nil after another client changed the key, as in Redis",
          "[integration][passthrough][transactions]") {
    proxy_stack stack;

    auto scenario = [](client& a, client& b, const std::string& prefix) {
        const std::string key = prefix + "watched";
        std::vector<std::string> r;
        r.push_back(a.cmd({"SET", key, "0"}));
        r.push_back(a.cmd({"WATCH", key}));
        r.push_back(b.cmd({"SET", key, "changed-by-b"}));
        r.push_back(a.cmd({"MULTI"}));
        r.push_back(a.cmd({"SET", key, "from-a"}));
        r.push_back(a.cmd({"EXEC"}));  // index 5: must be the null multi-bulk
        r.push_back(a.cmd({"GET", key}));
        // Without interference the same WATCH/MULTI/EXEC commits.
        r.push_back(a.cmd({"WATCH", key}));
        r.push_back(a.cmd({"MULTI"}));
        r.push_back(a.cmd({"SET", key, "from-a"}));
        r.push_back(a.cmd({"EXEC"}));
        r.push_back(b.cmd({"GET", key}));
        for (auto& s : r) s = normalise(s, prefix);
        return r;
    };

    auto proxy_a = stack.proxy_client();
    auto proxy_b = stack.proxy_client();
    auto direct_a = stack.direct_client();
    auto direct_b = stack.direct_client();
    auto via_proxy = scenario(proxy_a, proxy_b, proxy_prefix);
    auto direct = scenario(direct_a, direct_b, direct_prefix);
    CHECK(direct[5] == "(nil)");  // the test's own premise
    CHECK(via_proxy[5] == "(nil)");
    CHECK(via_proxy == direct);
    require_proxy_alive(stack);
}

TEST_CASE("an open MULTI on one proxy client does not leak into other clients",
          "[integration][passthrough][transactions]") {
    proxy_stack stack;
    auto a = stack.proxy_client();
    auto other = stack.proxy_client();
    REQUIRE(a.cmd({"SET", "iso", "before"}) == "+OK");
    REQUIRE(a.cmd({"MULTI"}) == "+OK");
    REQUIRE(a.cmd({"SET", "iso", "inside"}) == "+QUEUED");
    // Not queued into A's transaction, and A's queued write is not visible yet.
    CHECK(other.cmd({"GET", "iso"}) == "$before");
    CHECK(other.cmd({"SET", "iso2", "x"}) == "+OK");
    CHECK(a.cmd({"EXEC"}) == "*[+OK]");
    CHECK(other.cmd({"GET", "iso"}) == "$inside");
    require_proxy_alive(stack);
}

TEST_CASE("SELECT 3 through the proxy is per client and matches db 3 in Redis",
          "[integration][passthrough][select]") {
    proxy_stack stack;
    auto a = stack.proxy_client();
    auto b = stack.proxy_client();
    auto direct = stack.direct_client();

    REQUIRE(a.cmd({"SELECT", "3"}) == "+OK");
    REQUIRE(a.cmd({"SET", "db3key", "in-db-3"}) == "+OK");
    CHECK(a.cmd({"GET", "db3key"}) == "$in-db-3");
    // Another proxy client is still in db 0 (the shared upstream must not have switched).
    CHECK(b.cmd({"GET", "db3key"}) == "(nil)");
    CHECK(b.cmd({"SET", "db0key", "in-db-0"}) == "+OK");
    // Redis agrees on where each key lives.
    CHECK(direct.cmd({"GET", "db3key"}) == "(nil)");
    CHECK(direct.cmd({"GET", "db0key"}) == "$in-db-0");
    REQUIRE(direct.cmd({"SELECT", "3"}) == "+OK");
    CHECK(direct.cmd({"GET", "db3key"}) == "$in-db-3");
    CHECK(direct.cmd({"GET", "db0key"}) == "(nil)");
    // A stays in db 3 after other traffic, and can go back.
    CHECK(a.cmd({"GET", "db0key"}) == "(nil)");
    CHECK(a.cmd({"DBSIZE"}) == ":1");
    CHECK(a.cmd({"SELECT", "0"}) == "+OK");
    CHECK(a.cmd({"GET", "db0key"}) == "$in-db-0");
    // Errors as in Redis.
    CHECK(a.cmd({"SELECT", "99"}) == direct.cmd({"SELECT", "99"}));
    CHECK(a.cmd({"SELECT", "x"}) == direct.cmd({"SELECT", "x"}));
    require_proxy_alive(stack);
}
