// Pass-through behaviour, per-client state: MULTI/EXEC (with DISCARD and errors), WATCH aborts,
// an open MULTI that must not leak into other clients, and SELECT per client must look exactly
// like Redis through the proxy.
//
// Each sequence (passthrough_suite.cpp) runs twice against the same redis-server, once through the
// proxy on keys "{px}:*" and once directly on keys "{dx}:*", and every reply pair must be equal
// (prefix normalised). test_cluster_passthrough.cpp runs the same sequences in front of a cluster.
#include <string>
#include <vector>

#include "harness.h"
#include "passthrough_suite.h"

using namespace herdguard::test;

TEST_CASE("MULTI/EXEC returns the array of results, equal to direct Redis",
          "[integration][passthrough][transactions]") {
    run_comparison(multi_exec_sequence().commands);
}

TEST_CASE("WATCH abort: EXEC returns nil after another client changed the key, as in Redis",
          "[integration][passthrough][transactions]") {
    proxy_stack stack;

    auto proxy_a = stack.proxy_client();
    auto proxy_b = stack.proxy_client();
    auto direct_a = stack.direct_client();
    auto direct_b = stack.direct_client();
    auto via_proxy = watch_abort_scenario(proxy_a, proxy_b, proxy_prefix);
    auto direct = watch_abort_scenario(direct_a, direct_b, direct_prefix);
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
