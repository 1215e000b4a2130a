// Pass-through behaviour beyond single data types: a full SCAN iteration, EVAL with nested array
// replies, error replies, a pipeline of 10,000 mixed commands, and 200 concurrent clients reading
// their own writes must look exactly like Redis through the proxy.
//
// Each sequence runs twice against the same redis-server, once through the proxy on keys "px:*"
// and once directly on keys "dx:*", and every reply pair must be equal (prefix normalised).
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "test_support.h"

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

    // Full iteration on each side; SCAN may repeat keys, so compare sets (normalised).
    auto iterate = [](client& c, const std::string& prefix) {
        std::set<std::string> keys;
        std::string cursor = "0";
        int rounds = 0;
        do {
            auto r = c.cmd_reply({"SCAN", cursor, "MATCH", prefix + "scan:*", "COUNT", "50"});
            INFO("SCAN reply: " << r.canonical());
            REQUIRE(r.type == reply::kind::array);
            REQUIRE(r.elements.size() == 2);
            REQUIRE(r.elements[0].type == reply::kind::string);
            REQUIRE(r.elements[1].type == reply::kind::array);
            cursor = r.elements[0].str;
            for (const auto& k : r.elements[1].elements) keys.insert(normalise(k.str, prefix));
            REQUIRE(++rounds < 10000);  // a cursor that never returns to 0 is a bug, not a hang
        } while (cursor != "0");
        return keys;
    };
    auto proxy_keys = iterate(via_proxy, proxy_prefix);
    auto direct_keys = iterate(direct, direct_prefix);
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
            command scan{"SCAN", cursor, "MATCH", "px:scan:*", "COUNT", "50"};
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
    run_comparison({
        {"EVAL", "return {1, 'two', {3, {KEYS[1], ARGV[1]}}, {}, redis.call('INCR', KEYS[1])}", "1",
         "{p}ev", "arg"},
        {"EVAL", "return {1, {2, {3, {4, {KEYS[1]}}}}}", "1", "{p}deep"},
        {"RPUSH", "{p}evl", "a", "b"},
        {"EVAL", "return redis.call('LRANGE', KEYS[1], 0, -1)", "1", "{p}evl"},
        {"EVAL", "return {redis.status_reply('FINE'), false, 3.99, 'x'}", "0"},
        {"EVAL", "return redis.error_reply('MYERR boom')", "0"},
        {"SET", "{p}evstr", "s"},
        {"EVAL", "return redis.call('LPUSH', KEYS[1], 'x')", "1", "{p}evstr"},
        {"EVAL", "return redis.pcall('LPUSH', KEYS[1], 'x')", "1", "{p}evstr"},
        {"SCRIPT", "LOAD", "return ARGV[1]"},
        {"EVALSHA", "098e0f0d1448c0a81dafe820f66d460eb09263da", "0", "hi"},
        {"EVALSHA", "0000000000000000000000000000000000000000", "0"},
        {"EVAL", "return", "notanumber"},
    });
}

TEST_CASE("error replies (unknown command, wrong arity, WRONGTYPE) equal direct Redis",
          "[integration][passthrough]") {
    run_comparison({
        {"NOSUCHCMD", "a", "b"},
        {"NOSUCHCMD"},
        {"GET"},
        {"SET", "{p}onlykey"},
        {"HSET", "{p}h", "f"},
        {"SET", "{p}str", "v"},
        {"LPUSH", "{p}str", "x"},
        {"HGET", "{p}str", "f"},
        {"ZADD", "{p}str", "1", "m"},
        {"INCR", "{p}str"},
        {"CONFIG", "NOSUCHSUB"},
        {"PING"},
    });
}

TEST_CASE("a pipeline of 10,000 mixed commands gets all replies in order, equal to direct Redis",
          "[integration][passthrough][pipeline]") {
    proxy_stack stack;
    auto via_proxy = stack.proxy_client(5s);
    auto direct = stack.direct_client(5s);

    std::vector<command> sequence;
    for (int i = 0; i < 10000; ++i) {
        auto n = std::to_string(i);
        switch (i % 8) {
            case 0:
                sequence.push_back({"SET", "{p}k" + std::to_string(i % 100), "v" + n});
                break;
            case 1:
                sequence.push_back({"GET", "{p}k" + std::to_string((i * 7) % 100)});
                break;
            case 2:
                sequence.push_back({"INCR", "{p}c" + std::to_string(i % 10)});
                break;
            case 3:
                sequence.push_back({"LPUSH", "{p}l" + std::to_string(i % 5), "e" + n});
                break;
            case 4:
                sequence.push_back({"LRANGE", "{p}l" + std::to_string(i % 5), "0", "2"});
                break;
            case 5:
                sequence.push_back(
                    {"HSET", "{p}h" + std::to_string(i % 7), "f" + std::to_string(i % 13), n});
                break;
            case 6:
                sequence.push_back(
                    {"HGET", "{p}h" + std::to_string(i % 7), "f" + std::to_string((i * 3) % 13)});
                break;
            default:
                if (i % 16 == 7)
                    sequence.push_back({"DEL", "{p}k" + std::to_string(i % 100)});
                else
                    sequence.push_back({"EXISTS", "{p}k" + std::to_string(i % 100), "{p}l1"});
        }
    }
    std::vector<command> proxy_cmds, direct_cmds;
    for (const auto& c : sequence) {
        proxy_cmds.push_back(with_prefix(c, proxy_prefix));
        direct_cmds.push_back(with_prefix(c, direct_prefix));
    }

    auto proxy_replies = via_proxy.pipeline(proxy_cmds);
    auto direct_replies = direct.pipeline(direct_cmds);
    REQUIRE(proxy_replies.size() == 10000);
    REQUIRE(direct_replies.size() == 10000);

    std::size_t mismatches = 0;
    for (std::size_t i = 0; i < sequence.size(); ++i) {
        auto p = normalise(proxy_replies[i], proxy_prefix);
        auto d = normalise(direct_replies[i], direct_prefix);
        if (p != d && ++mismatches <= 5) {
            INFO("reply #" << i << " to " << show(sequence[i]));
            CHECK(p == d);
        }
    }
    CHECK(mismatches == 0);
    // The connection is still in step afterwards.
    CHECK(via_proxy.cmd({"PING"}) == "+PONG");
    require_proxy_alive(stack);
}

TEST_CASE("200 concurrent clients each read their own writes through the proxy",
          "[integration][passthrough][concurrency]") {
    proxy_stack stack;
    constexpr int clients = 200;
    constexpr int rounds = 50;
    failure_log failures;
    std::atomic<int> completed{0};

    std::vector<std::thread> threads;
    threads.reserve(clients);
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&, i] {
            try {
                client c(stack.proxy.port());
                auto key = "rw:" + std::to_string(i);
                for (int j = 0; j < rounds; ++j) {
                    auto value = "v" + std::to_string(i) + "_" + std::to_string(j);
                    auto set = c.cmd({"SET", key, value});
                    auto get = c.cmd({"GET", key});
                    if (set != "+OK" || get != "$" + value) {
                        failures.add("client " + std::to_string(i) + " round " + std::to_string(j) +
                                     ": SET -> " + set + ", GET -> " + get + " (expected $" +
                                     value + ")");
                        return;
                    }
                }
                ++completed;
            } catch (const std::exception& e) {
                failures.add("client " + std::to_string(i) + ": " + e.what());
            }
        });
    }
    for (auto& t : threads) t.join();

    INFO(failures.summary());
    CHECK(failures.count() == 0);
    CHECK(completed == clients);
    require_proxy_alive(stack);
}
