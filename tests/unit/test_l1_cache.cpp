// L1's store (herd/l1_cache.h): the fill token that makes the fill/invalidate race safe, expiry,
// and the byte bound with its overhead counted.
#include <catch2/catch.hpp>

#include <string>

#include "herdguard/herd/l1_cache.h"
#include "herdguard/herd/l1_tracking.h"
#include "herdguard/herd/read_through.h"

using namespace herdguard;
using namespace std::chrono_literals;

namespace {
const auto t0 = l1_cache::clock::now();
std::string bulk(const std::string& v) { return "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n"; }
}  // namespace

TEST_CASE("L1: a fill is stored only while its token holds the slot", "[l1]") {
    l1_cache c(1 << 20);
    const auto t = c.reserve("k");
    REQUIRE(t != 0);
    CHECK(c.find("k", t0) == nullptr);  // reserved is not held
    CHECK(c.fill("k", t, bulk("v1"), t0 + 1s) == l1_cache::fill_result::stored);
    REQUIRE(c.find("k", t0) != nullptr);
    CHECK(*c.find("k", t0) == bulk("v1"));
    CHECK(c.entries() == 1);

    // An invalidation between the reservation and the reply voids the fill: that reply may
    // predate the write the invalidation announces.
    const auto t2 = c.reserve("k");
    CHECK(c.invalidate("k"));
    CHECK(c.fill("k", t2, bulk("old"), t0 + 1s) == l1_cache::fill_result::voided);
    CHECK(c.find("k", t0) == nullptr);

    // While one read's reservation is live, another read reserves nothing: the first fills for
    // both (concurrent misses must not void each other, or a very hot key would never fill).
    const auto a = c.reserve("k");
    CHECK(a != 0);
    CHECK(c.reserve("k") == 0);
    CHECK(c.fill("k", a, bulk("a"), t0 + 1s) == l1_cache::fill_result::stored);
    CHECK(c.fill("k", a + 1000, bulk("x"), t0 + 1s) == l1_cache::fill_result::voided);  // not its token
    // A clear (a flush, or tracking lost) voids every reservation too.
    const auto d = c.reserve("j");
    c.clear();
    CHECK(c.fill("j", d, bulk("d"), t0 + 1s) == l1_cache::fill_result::voided);
    CHECK(c.entries() == 0);
    CHECK(c.bytes() == 0);
    // A token is never reused, so a fill can never match a slot reserved after it (no ABA).
    const auto e = c.reserve("j");
    CHECK(e > d);
    CHECK(c.fill("j", d, bulk("d"), t0 + 1s) == l1_cache::fill_result::voided);
}

TEST_CASE("L1: an entry is not served at or after its expiry", "[l1]") {
    l1_cache c(1 << 20);
    auto t = c.reserve("k");
    c.fill("k", t, bulk("v"), t0 + 100ms);
    CHECK(c.find("k", t0 + 99ms) != nullptr);
    CHECK(c.holds("k", t0 + 99ms));
    CHECK(c.find("k", t0 + 100ms) == nullptr);
    CHECK(c.entries() == 0);  // dropped when found expired
}

TEST_CASE("L1: max_bytes is never exceeded; the least recently used go first", "[l1]") {
    const std::size_t max = 64 * 1024;  // 4 KB per shard
    l1_cache c(max);
    const std::string value(500, 'x');
    std::size_t stored = 0;
    for (int i = 0; i < 2000; ++i) {
        const std::string key = "key:" + std::to_string(i);
        const auto t = c.reserve(key);
        if (t != 0 && c.fill(key, t, bulk(value), t0 + 10s) == l1_cache::fill_result::stored) ++stored;
        REQUIRE(c.bytes() <= max);
    }
    CHECK(stored == 2000);
    CHECK(c.evictions() > 0);
    CHECK(c.entries() < 2000);
    // Each entry is charged its value, key and overhead: 64 KB holds well under 128 of 500 bytes.
    CHECK(c.entries() * (value.size() + l1_cache::entry_overhead) <= max);

    // Recently read keys survive new fills in their shard.
    l1_cache lru(max);
    auto fill = [&](const std::string& k) {
        auto t = lru.reserve(k);
        return lru.fill(k, t, bulk(value), t0 + 10s);
    };
    fill("hot");
    for (int i = 0; i < 500; ++i) {
        REQUIRE(lru.find("hot", t0) != nullptr);
        fill("cold:" + std::to_string(i));
    }
    CHECK(lru.find("hot", t0) != nullptr);

    // A value larger than a shard's share is not stored, and nothing is evicted for it.
    CHECK(fill(std::string("big")) == l1_cache::fill_result::stored);
    auto t = lru.reserve("huge");
    CHECK(lru.fill("huge", t, std::string(max, 'y'), t0 + 10s) == l1_cache::fill_result::too_big);
    CHECK(lru.find("big", t0) != nullptr);
    CHECK(lru.bytes() <= max);
}

TEST_CASE("L1: tracking prefixes come from the routes with l1, without overlaps", "[l1]") {
    auto route = [](std::string name, std::string match, bool l1) {
        route_config r;
        r.name = std::move(name);
        r.match = std::move(match);
        r.upstream = "http://127.0.0.1:1/{key}";
        if (l1) r.l1_max_bytes = 1 << 20;
        return r;
    };
    herd_engine none({route("a", "product:*", false)});
    CHECK_FALSE(none.l1_configured());
    CHECK(none.l1_prefixes().empty());

    herd_engine some({route("a", "product:*", true), route("b", "product:detail:*", true),
                      route("c", "user:?:x", true), route("d", "order:*", false)});
    CHECK(some.l1_configured());
    CHECK(some.l1_prefixes() == std::vector<std::string>{"user:", "product:"});
    CHECK(l1_tracking::tracking_command(some.l1_prefixes()) ==
          std::vector<std::string>{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX", "product:"});

    // The canary's own prefix is tracked too, unless a route's prefix already covers it.
    CHECK(l1_tracking::tracking_command({"user:"}, "herdguard:l1-canary:7:") ==
          std::vector<std::string>{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "user:", "PREFIX",
                                   "herdguard:l1-canary:7:"});
    CHECK(l1_tracking::tracking_command({"herdguard:"}, "herdguard:l1-canary:7:") ==
          std::vector<std::string>{"CLIENT", "TRACKING", "ON", "BCAST", "PREFIX", "herdguard:"});

    herd_engine all({route("a", "*:product", true), route("b", "user:*", true)});
    CHECK(all.l1_prefixes() == std::vector<std::string>{""});
    CHECK(l1_tracking::tracking_command(all.l1_prefixes()) ==
          std::vector<std::string>{"CLIENT", "TRACKING", "ON", "BCAST"});

    // A reload that drops L1 says so, and empties the replaced route's L1.
    CHECK(some.reload({route("a", "product:*", false)}) == 0);
    CHECK_FALSE(some.l1_configured());
}

TEST_CASE("L1: a reservation that will not be filled is given back; others are left alone", "[l1]") {
    l1_cache c(1 << 20);
    const auto t = c.reserve("k");
    CHECK(c.bytes() > 0);
    c.cancel("k", t);
    CHECK(c.bytes() == 0);
    const auto old = c.reserve("k");
    c.invalidate("k");
    const auto newer = c.reserve("k");
    c.cancel("k", old);  // a newer reservation holds the slot: untouched
    CHECK(c.fill("k", newer, bulk("v"), t0 + 1s) == l1_cache::fill_result::stored);
    c.cancel("k", newer);  // filled: an entry, not a reservation
    CHECK(c.find("k", t0) != nullptr);
}

// SET then GET pipelined on one connection: between the SET's send and its reply, another
// worker's read may reserve, read Redis before the SET runs, and fill the old value. The fence
// keeps the key out of L1 for exactly that time.
TEST_CASE("L1: a fenced key is neither served nor filled until every fence is lifted", "[l1]") {
    l1_cache c(1 << 20);
    auto t = c.reserve("k");
    c.fill("k", t, bulk("v1"), t0 + 10s);
    const auto racing = c.reserve("j");  // another key: untouched by k's fence
    c.fence("k");
    c.fence("k");  // two writes in flight
    CHECK(c.find("k", t0) == nullptr);
    CHECK(c.reserve("k") == 0);
    c.unfence("k");
    CHECK(c.reserve("k") == 0);  // one write still in flight
    c.unfence("k");
    const auto after = c.reserve("k");
    CHECK(after != 0);
    CHECK(c.fill("k", after, bulk("v2"), t0 + 10s) == l1_cache::fill_result::stored);
    CHECK(c.fill("j", racing, bulk("j"), t0 + 10s) == l1_cache::fill_result::stored);

    // A reservation made before the fence cannot fill during it, nor after it.
    const auto before = c.reserve("m");
    c.fence("m");
    CHECK(c.fill("m", before, bulk("old"), t0 + 10s) == l1_cache::fill_result::voided);
    c.unfence("m");
    CHECK(c.find("m", t0) == nullptr);
    // unfence drops the key again: what was filled between the write's send and its run is gone.
    auto u = c.reserve("n");
    c.fill("n", u, bulk("n1"), t0 + 10s);
    c.unfence("n");  // an unmatched unfence is harmless
    CHECK(c.find("n", t0) == nullptr);
}

// The fast reading of invalidation pushes must agree with the general decoder on every shape
// Redis sends, and hand anything else to it.
TEST_CASE("L1 tracking: invalidation pushes read without a reply tree", "[l1]") {
    std::vector<std::string_view> keys;
    bool all = true;
    SECTION("RESP3 push with keys") {
        const std::string raw = ">2\r\n$10\r\ninvalidate\r\n*2\r\n" + bulk("product:1") + bulk("product:{2}");
        REQUIRE(l1_tracking::read_invalidation(raw, keys, all));
        CHECK_FALSE(all);
        CHECK(keys == std::vector<std::string_view>{"product:1", "product:{2}"});
    }
    SECTION("a key with CRLF and an empty key are bytes like any other") {
        const std::string raw = ">2\r\n$10\r\ninvalidate\r\n*2\r\n" + bulk("a\r\nb") + bulk("");
        REQUIRE(l1_tracking::read_invalidation(raw, keys, all));
        CHECK(keys == std::vector<std::string_view>{"a\r\nb", ""});
    }
    SECTION("a flush: null in RESP3 and RESP2") {
        REQUIRE(l1_tracking::read_invalidation(">2\r\n$10\r\ninvalidate\r\n_\r\n", keys, all));
        CHECK(all);
        REQUIRE(l1_tracking::read_invalidation("*2\r\n$10\r\ninvalidate\r\n*-1\r\n", keys, all));
        CHECK(all);
        CHECK(keys.empty());
    }
    SECTION("other shapes are left to the general decoder") {
        CHECK_FALSE(l1_tracking::read_invalidation(">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n", keys, all));
        CHECK_FALSE(l1_tracking::read_invalidation(">2\r\n$10\r\ninvalidate\r\n*1\r\n+product:1\r\n", keys, all));
        CHECK_FALSE(l1_tracking::read_invalidation(">2\r\n$10\r\ninvalidate\r\n*2\r\n$1\r\na\r\n", keys, all));
        CHECK_FALSE(l1_tracking::read_invalidation(">2\r\n$10\r\ninvalidate\r\n*1\r\n$3\r\nab\r\n", keys, all));
        CHECK_FALSE(l1_tracking::read_invalidation(">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\na\r\nX", keys, all));
        CHECK_FALSE(l1_tracking::read_invalidation("", keys, all));
    }
}

TEST_CASE("L1: fences count per key and hold off reservations until the last write is answered", "[l1]") {
    l1_cache c(1 << 20);
    c.fence("k");
    c.fence("k");
    CHECK(c.reserve("k") == 0);
    CHECK(c.reserve("other") != 0);  // only the fenced key is refused
    c.unfence("k");
    CHECK(c.reserve("k") == 0);  // one write still in flight
    c.unfence("k");
    CHECK(c.reserve("k") != 0);
    c.unfence("k");  // an unfence with no fence left is harmless
}
