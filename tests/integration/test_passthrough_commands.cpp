// Pass-through behaviour beyond single data types: a full SCAN iteration, EVAL with nested array
// replies, error replies, a pipeline of 10,000 mixed commands, and 200 concurrent clients reading
// their own writes must look exactly like Redis through the proxy.
//
// Each sequence (passthrough_suite.cpp) runs twice against the same redis-server, once through the
// proxy on keys "{px}:*" and once directly on keys "{dx}:*", and every reply pair must be equal
// (prefix normalised). test_cluster_passthrough.cpp runs the same sequences in front of a cluster.
#include <string>
#include <vector>

#include "harness.h"
#include "passthrough_suite.h"

using namespace herdguard::test;

TEST_CASE("SCAN: full iteration over 500 keys matches direct Redis", "[integration][passthrough]") {
    proxy_stack stack;
    auto via_proxy = stack.proxy_client();
    auto direct = stack.direct_client();

    std::vector<command> proxy_sets, direct_sets;
    for (int i = 0; i < 500; ++i) {
        proxy_sets.push_back({"SET", std::string(proxy_prefix) + "scan:" + std::to_string(i), "v"});
        direct_sets.push_back(
            {"SET", std::string(direct_prefix) + "scan:" + std::to_string(i), "v"});
    }
    for (const auto& r : via_proxy.pipeline(proxy_sets)) REQUIRE(r == "+OK");
    for (const auto& r : direct.pipeline(direct_sets)) REQUIRE(r == "+OK");

    auto proxy_keys = scan_all(via_proxy, proxy_prefix);
    auto direct_keys = scan_all(direct, direct_prefix);
    CHECK(proxy_keys.size() == 500);
    CHECK(proxy_keys == direct_keys);

    // The same SCAN command must give the same reply both ways. Redis may still be rehashing
    // after the inserts, which changes SCAN's answer between two calls; so each step asks the
    // proxy twice around the direct call and only compares when the two proxy answers agree.
    bool compared = false;
    for (int attempt = 0; attempt < 5 && !compared; ++attempt) {
        std::string cursor = "0";
        bool stable = true;
        int rounds = 0;
        do {
            command scan{"SCAN", cursor, "MATCH", std::string(proxy_prefix) + "scan:*", "COUNT", "50"};
            auto before = via_proxy.cmd(scan);
            auto d = direct.cmd(scan);
            auto after = via_proxy.cmd(scan);
            if (before != after) {
                stable = false;
                break;
            }
            INFO("SCAN cursor " << cursor);
            REQUIRE(before == d);
            auto r = via_proxy.cmd_reply(scan);
            REQUIRE(r.elements.size() == 2);
            cursor = r.elements[0].str;
            REQUIRE(++rounds < 10000);
        } while (cursor != "0");
        compared = stable;
    }
    CHECK(compared);
    require_proxy_alive(stack);
}

TEST_CASE("EVAL with nested array replies: proxy replies equal direct Redis replies",
          "[integration][passthrough]") {
    run_comparison(eval_sequence().commands);
}

TEST_CASE("error replies (unknown command, wrong arity, WRONGTYPE) equal direct Redis",
          "[integration][passthrough]") {
    run_comparison(error_replies_sequence().commands);
}

TEST_CASE("a pipeline of 10,000 mixed commands gets all replies in order, equal to direct Redis",
          "[integration][passthrough][pipeline]") {
    proxy_stack stack;
    auto via_proxy = stack.proxy_client(5s);
    auto direct = stack.direct_client(5s);

    check_mixed_pipeline(via_proxy, direct);
    require_proxy_alive(stack);
}

TEST_CASE("200 concurrent clients each read their own writes through the proxy",
          "[integration][passthrough][concurrency]") {
    proxy_stack stack;
    const auto result = read_own_writes(stack.proxy.port(), 200, 50);
    INFO(result.summary);
    CHECK(result.failures == 0);
    CHECK(result.completed == 200);
    require_proxy_alive(stack);
}
