// Pass-through behaviour, the data types: strings, lists, hashes, sets, sorted sets, streams and
// expiry (EXPIRE, TTL, PERSIST) must look exactly like Redis through the proxy.
//
// Each sequence runs twice against the same redis-server, once through the proxy on keys "px:*"
// and once directly on keys "dx:*", and every reply pair must be equal (prefix normalised).
#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

TEST_CASE("strings: proxy replies equal direct Redis replies", "[integration][passthrough]") {
    run_comparison({
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
    });
}

TEST_CASE("lists: proxy replies equal direct Redis replies", "[integration][passthrough]") {
    run_comparison({
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
    });
}

TEST_CASE("hashes: proxy replies equal direct Redis replies", "[integration][passthrough]") {
    run_comparison({
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
    });
}

TEST_CASE("sets: proxy replies equal direct Redis replies", "[integration][passthrough]") {
    run_comparison({
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
    });
}

TEST_CASE("sorted sets with scores: proxy replies equal direct Redis replies",
          "[integration][passthrough]") {
    run_comparison({
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
    });
}

TEST_CASE("streams with explicit IDs: proxy replies equal direct Redis replies",
          "[integration][passthrough]") {
    run_comparison({
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
    });
}

TEST_CASE("EXPIRE, TTL and PERSIST: proxy replies equal direct Redis replies",
          "[integration][passthrough]") {
    // TTL rounds to whole seconds, so 1000 s read back right away is stable on both sides.
    run_comparison({
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
    });
}
