// The pass-through suite's sequences and scenarios (passthrough_suite.h). The sequences were
// written against Redis 7's replies; they are compared, never checked against literals here.
#include "passthrough_suite.h"

#include <atomic>
#include <thread>

namespace herdguard::test {

named_sequence strings_sequence() {
    return {"strings",
            {
                {"SET", "{p}s", "hello"},
                {"GET", "{p}s"},
                {"APPEND", "{p}s", " world"},
                {"GET", "{p}s"},
                {"GETRANGE", "{p}s", "0", "4"},
                {"GETRANGE", "{p}s", "-5", "-1"},
                {"GETRANGE", "{p}s", "100", "200"},
                {"STRLEN", "{p}s"},
                {"SET", "{p}n", "10"},
                {"INCR", "{p}n"},
                {"INCRBY", "{p}n", "5"},
                {"DECR", "{p}n"},
                {"INCRBYFLOAT", "{p}n", "1.5"},
                {"INCR", "{p}s"},
                {"INCR", "{p}fresh"},
                {"MSET", "{p}a", "1", "{p}b", "2", "{p}c", "3"},
                {"MGET", "{p}a", "{p}b", "{p}missing", "{p}c"},
                {"SETNX", "{p}a", "9"},
                {"GETDEL", "{p}c"},
                {"GET", "{p}c"},
                {"SET", "{p}empty", ""},
                {"GET", "{p}empty"},
                {"SET", "{p}bin", std::string("a\r\nb\0c\xff", 7)},
                {"GET", "{p}bin"},
                {"SET", "{p}x", "v", "NX"},
                {"SET", "{p}x", "v2", "NX"},
                {"SET", "{p}x", "v3", "XX", "GET"},
                {"GET", "{p}x"},
                {"SET", "{p}big", std::string(100000, 'z')},
                {"STRLEN", "{p}big"},
                {"GETRANGE", "{p}big", "99990", "-1"},
                {"EXISTS", "{p}a", "{p}x", "{p}missing"},
                {"DEL", "{p}a", "{p}b", "{p}nope"},
                {"TYPE", "{p}x"},
            }};
}

named_sequence lists_sequence() {
    return {"lists",
            {
                {"RPUSH", "{p}l", "a", "b", "c"},
                {"LPUSH", "{p}l", "z"},
                {"LRANGE", "{p}l", "0", "-1"},
                {"LLEN", "{p}l"},
                {"LINDEX", "{p}l", "1"},
                {"LINDEX", "{p}l", "99"},
                {"LSET", "{p}l", "0", "y"},
                {"LSET", "{p}l", "99", "y"},
                {"LINSERT", "{p}l", "BEFORE", "b", "bb"},
                {"LPOS", "{p}l", "bb"},
                {"LREM", "{p}l", "0", "bb"},
                {"LPOP", "{p}l"},
                {"RPOP", "{p}l", "2"},
                {"LRANGE", "{p}l", "0", "-1"},
                {"RPUSH", "{p}l", "d", "e"},
                {"RPOPLPUSH", "{p}l", "{p}l2"},
                {"LMOVE", "{p}l2", "{p}l", "LEFT", "RIGHT"},
                {"LRANGE", "{p}l", "0", "-1"},
                {"LTRIM", "{p}l", "1", "-1"},
                {"LRANGE", "{p}l", "0", "-1"},
                {"LRANGE", "{p}missing", "0", "-1"},
                {"LPOP", "{p}missing"},
                {"LPOP", "{p}missing", "3"},
            }};
}

named_sequence hashes_sequence() {
    return {"hashes",
            {
                {"HSET", "{p}h", "f1", "v1", "f2", "v2"},
                {"HGET", "{p}h", "f1"},
                {"HGET", "{p}h", "nope"},
                {"HMGET", "{p}h", "f1", "nope", "f2"},
                {"HINCRBY", "{p}h", "n", "3"},
                {"HINCRBYFLOAT", "{p}h", "fl", "0.25"},
                {"HEXISTS", "{p}h", "f2"},
                {"HLEN", "{p}h"},
                {"HKEYS", "{p}h"},
                {"HVALS", "{p}h"},
                {"HGETALL", "{p}h"},
                {"HSETNX", "{p}h", "f1", "x"},
                {"HSTRLEN", "{p}h", "f2"},
                {"HDEL", "{p}h", "f1", "nope"},
                {"HGETALL", "{p}h"},
                {"HGETALL", "{p}missing"},
            }};
}

named_sequence sets_sequence() {
    return {"sets",
            {
                {"SADD", "{p}s1", "a", "b", "c", "d"},
                {"SADD", "{p}s1", "a"},
                {"SADD", "{p}s2", "c", "d", "e"},
                {"SADD", "{p}ints", "3", "1", "2"},
                {"SCARD", "{p}s1"},
                {"SISMEMBER", "{p}s1", "b"},
                {"SMISMEMBER", "{p}s1", "a", "z"},
                {"SMEMBERS", "{p}ints"},
                {"SMEMBERS", "{p}s1"},
                {"SINTER", "{p}s1", "{p}s2"},
                {"SUNION", "{p}s1", "{p}s2"},
                {"SDIFF", "{p}s1", "{p}s2"},
                {"SINTERSTORE", "{p}s3", "{p}s1", "{p}s2"},
                {"SMEMBERS", "{p}s3"},
                {"SREM", "{p}s1", "a", "zz"},
                {"SMOVE", "{p}s1", "{p}s2", "b"},
                {"SMEMBERS", "{p}s2"},
                {"SMEMBERS", "{p}missing"},
            }};
}

named_sequence sorted_sets_sequence() {
    return {"sorted sets",
            {
                {"ZADD", "{p}z", "1", "a", "2", "b", "3", "c", "2.5", "d"},
                {"ZADD", "{p}z", "NX", "10", "a"},
                {"ZADD", "{p}z", "XX", "CH", "1.25", "a"},
                {"ZRANGE", "{p}z", "0", "-1", "WITHSCORES"},
                {"ZSCORE", "{p}z", "d"},
                {"ZSCORE", "{p}z", "nope"},
                {"ZMSCORE", "{p}z", "a", "nope"},
                {"ZINCRBY", "{p}z", "1.5", "a"},
                {"ZRANK", "{p}z", "a"},
                {"ZREVRANK", "{p}z", "a"},
                {"ZREVRANGE", "{p}z", "0", "1", "WITHSCORES"},
                {"ZRANGEBYSCORE", "{p}z", "1", "3", "WITHSCORES", "LIMIT", "0", "2"},
                {"ZRANGE", "{p}z", "(1", "+inf", "BYSCORE"},
                {"ZCARD", "{p}z"},
                {"ZCOUNT", "{p}z", "-inf", "+inf"},
                {"ZREM", "{p}z", "b", "nope"},
                {"ZPOPMIN", "{p}z"},
                {"ZPOPMAX", "{p}z", "2"},
                {"ZRANGE", "{p}z", "0", "-1", "WITHSCORES"},
                {"ZADD", "{p}z", "notanumber", "x"},
            }};
}

named_sequence streams_sequence() {
    return {"streams",
            {
                {"XADD", "{p}st", "1-1", "f", "v"},
                {"XADD", "{p}st", "1-2", "f2", "v2", "f3", "v3"},
                {"XADD", "{p}st", "2-0", "a", "b"},
                {"XADD", "{p}st", "1-0", "x", "y"},
                {"XLEN", "{p}st"},
                {"XRANGE", "{p}st", "-", "+"},
                {"XRANGE", "{p}st", "-", "+", "COUNT", "2"},
                {"XRANGE", "{p}st", "1-2", "+"},
                {"XREVRANGE", "{p}st", "+", "-", "COUNT", "1"},
                {"XREAD", "COUNT", "10", "STREAMS", "{p}st", "0"},
                {"XDEL", "{p}st", "1-2"},
                {"XLEN", "{p}st"},
                {"XTRIM", "{p}st", "MAXLEN", "1"},
                {"XRANGE", "{p}st", "-", "+"},
                {"XRANGE", "{p}missing", "-", "+"},
                {"XLEN", "{p}missing"},
            }};
}

named_sequence expiry_sequence() {
    // TTL rounds to whole seconds, so 1000 s read back right away is stable on both sides.
    return {"EXPIRE, TTL and PERSIST",
            {
                {"SET", "{p}k", "v"},
                {"TTL", "{p}k"},
                {"EXPIRE", "{p}k", "1000"},
                {"TTL", "{p}k"},
                {"PERSIST", "{p}k"},
                {"PERSIST", "{p}k"},
                {"TTL", "{p}k"},
                {"TTL", "{p}missing"},
                {"EXPIRE", "{p}missing", "10"},
                {"EXPIRE", "{p}k", "100", "NX"},
                {"EXPIRE", "{p}k", "200", "NX"},
                {"TTL", "{p}k"},
                {"SET", "{p}k2", "v", "EX", "500"},
                {"TTL", "{p}k2"},
                {"SET", "{p}k2", "v2", "KEEPTTL"},
                {"TTL", "{p}k2"},
                {"EXPIRE", "{p}k", "notanumber"},
                {"GET", "{p}k"},
            }};
}

named_sequence eval_sequence() {
    return {"EVAL with nested arrays",
            {
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
            }};
}

named_sequence error_replies_sequence() {
    return {"error replies",
            {
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
            }};
}

named_sequence multi_exec_sequence() {
    return {"MULTI/EXEC",
            {
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
            }};
}

std::vector<named_sequence> all_sequences() {
    return {strings_sequence(), lists_sequence(),  hashes_sequence(),       sets_sequence(),
            sorted_sets_sequence(), streams_sequence(), expiry_sequence(), eval_sequence(),
            error_replies_sequence(), multi_exec_sequence()};
}

std::vector<command> mixed_pipeline(int count) {
    std::vector<command> sequence;
    sequence.reserve(static_cast<std::size_t>(count));
    for (int i = 0; i < count; ++i) {
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
                sequence.push_back({"HSET", "{p}h" + std::to_string(i % 7), "f" + std::to_string(i % 13), n});
                break;
            case 6:
                sequence.push_back({"HGET", "{p}h" + std::to_string(i % 7), "f" + std::to_string((i * 3) % 13)});
                break;
            default:
                if (i % 16 == 7)
                    sequence.push_back({"DEL", "{p}k" + std::to_string(i % 100)});
                else
                    sequence.push_back({"EXISTS", "{p}k" + std::to_string(i % 100), "{p}l1"});
        }
    }
    return sequence;
}

pipeline_comparison compare_pipeline(client& via_proxy, client& direct, const std::vector<command>& sequence) {
    std::vector<command> proxy_cmds, direct_cmds;
    for (const auto& c : sequence) {
        proxy_cmds.push_back(with_prefix(c, proxy_prefix));
        direct_cmds.push_back(with_prefix(c, direct_prefix));
    }
    const auto proxy_replies = via_proxy.pipeline(proxy_cmds);
    const auto direct_replies = direct.pipeline(direct_cmds);
    pipeline_comparison out;
    out.replies_via_proxy = proxy_replies.size();
    out.replies_direct = direct_replies.size();
    for (std::size_t i = 0; i < sequence.size() && i < proxy_replies.size() && i < direct_replies.size(); ++i) {
        auto p = normalise(proxy_replies[i], proxy_prefix);
        auto d = normalise(direct_replies[i], direct_prefix);
        if (p != d && ++out.mismatches <= 5)
            out.samples += "reply #" + std::to_string(i) + " to " + show(sequence[i]) + ": " + p +
                           " through herdguard, " + d + " direct\n";
    }
    return out;
}

void check_mixed_pipeline(client& via_proxy, client& direct) {
    const auto result = compare_pipeline(via_proxy, direct, mixed_pipeline(10000));
    REQUIRE(result.replies_via_proxy == 10000);
    REQUIRE(result.replies_direct == 10000);
    INFO(result.samples);
    CHECK(result.mismatches == 0);
    CHECK(via_proxy.cmd({"PING"}) == "+PONG");
}

std::set<std::string> scan_all(client& c, const std::string& prefix) {
    std::set<std::string> keys;  // SCAN may repeat keys
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
}

std::vector<std::string> watch_abort_scenario(client& a, client& b, const std::string& prefix) {
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
}

read_own_writes_result read_own_writes(std::uint16_t port, int clients, int rounds) {
    failure_log failures;
    std::atomic<std::size_t> completed{0};
    std::vector<std::thread> threads;
    threads.reserve(static_cast<std::size_t>(clients));
    for (int i = 0; i < clients; ++i) {
        threads.emplace_back([&, i] {
            try {
                client c(port);
                auto key = "rw:" + std::to_string(i);
                for (int j = 0; j < rounds; ++j) {
                    auto value = "v" + std::to_string(i) + "_" + std::to_string(j);
                    auto set = c.cmd({"SET", key, value});
                    auto get = c.cmd({"GET", key});
                    if (set != "+OK" || get != "$" + value) {
                        failures.add("client " + std::to_string(i) + " round " + std::to_string(j) + ": SET -> " +
                                     set + ", GET -> " + get + " (expected $" + value + ")");
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
    return {failures.count(), completed.load(), failures.summary()};
}

}  // namespace herdguard::test
