#include <catch2/catch.hpp>

#include <string>

#include "herdguard/herd/fresh_memo.h"

using herdguard::fresh_memo;
using namespace std::chrono_literals;

namespace {
char route_a = 0;  // two routes: only their addresses matter
char route_b = 0;
}  // namespace

TEST_CASE("fresh_memo: a remembered key is fresh until its time, for its route only", "[fresh_memo]") {
    fresh_memo memo(16);
    const auto t0 = fresh_memo::clock::now();
    CHECK_FALSE(memo.fresh(&route_a, "product:1", t0));
    memo.remember(&route_a, "product:1", t0, t0 + 500ms);
    CHECK(memo.fresh(&route_a, "product:1", t0));
    CHECK(memo.fresh(&route_a, "product:1", t0 + 499ms));
    CHECK_FALSE(memo.fresh(&route_a, "product:1", t0 + 500ms));
    CHECK_FALSE(memo.fresh(&route_b, "product:1", t0));  // a reloaded route starts afresh
    CHECK_FALSE(memo.fresh(&route_a, "product:2", t0));
}

TEST_CASE("fresh_memo: the window is capped at max_horizon", "[fresh_memo]") {
    fresh_memo memo(16);
    const auto t0 = fresh_memo::clock::now();
    memo.remember(&route_a, "k", t0, t0 + 1h);
    CHECK(memo.fresh(&route_a, "k", t0 + fresh_memo::max_horizon - 1ms));
    CHECK_FALSE(memo.fresh(&route_a, "k", t0 + fresh_memo::max_horizon));
}

TEST_CASE("fresh_memo: forget, eviction, long keys, disabled", "[fresh_memo]") {
    const auto t0 = fresh_memo::clock::now();
    SECTION("forget drops the key") {
        fresh_memo memo(16);
        memo.remember(&route_a, "k", t0, t0 + 500ms);
        memo.forget(&route_a, "other");  // another key in the same slot or not: k stays
        CHECK(memo.fresh(&route_a, "k", t0));
        memo.forget(&route_b, "k");  // another route's entry of the key: k stays
        CHECK(memo.fresh(&route_a, "k", t0));
        memo.forget(&route_a, "k");
        CHECK_FALSE(memo.fresh(&route_a, "k", t0));
    }
    SECTION("a full line gives up the entry that ends first, and never confuses two keys") {
        fresh_memo memo(1);  // one line of four
        CHECK(memo.slots() == fresh_memo::ways);
        for (int i = 0; i < 4; ++i) memo.remember(&route_a, "k" + std::to_string(i), t0, t0 + 100ms * (i + 2));
        for (int i = 0; i < 4; ++i) CHECK(memo.fresh(&route_a, "k" + std::to_string(i), t0));
        memo.remember(&route_a, "new", t0, t0 + 900ms);
        CHECK(memo.fresh(&route_a, "new", t0));
        CHECK_FALSE(memo.fresh(&route_a, "k0", t0));  // ended first: replaced
        for (int i = 1; i < 4; ++i) CHECK(memo.fresh(&route_a, "k" + std::to_string(i), t0));
        memo.remember(&route_a, "k1", t0, t0 + 800ms);  // a key's own entry is renewed in place
        CHECK(memo.fresh(&route_a, "k1", t0 + 700ms));
        CHECK(memo.fresh(&route_a, "k2", t0));
    }
    SECTION("slots round up to a power of two") {
        CHECK(fresh_memo(1000).slots() == 1024);
        CHECK(fresh_memo(2).slots() == fresh_memo::ways);
    }
    SECTION("long keys are remembered by their hash, and differ from a key one byte shorter") {
        fresh_memo memo(1);  // one slot: only the hash tells the two apart
        const std::string long_key(4096, 'x');
        memo.remember(&route_a, long_key, t0, t0 + 500ms);
        CHECK(memo.fresh(&route_a, long_key, t0));
        CHECK_FALSE(memo.fresh(&route_a, std::string_view(long_key).substr(1), t0));
    }
    SECTION("the default table holds a 10,000-key working set") {
        fresh_memo memo;
        CHECK(memo.slots() == fresh_memo::default_slots);
        for (int i = 0; i < 10000; ++i) memo.remember(&route_a, "product:" + std::to_string(i), t0, t0 + 500ms);
        int kept = 0;
        for (int i = 0; i < 10000; ++i) kept += memo.fresh(&route_a, "product:" + std::to_string(i), t0) ? 1 : 0;
        CHECK(kept >= 9800);  // 4-way lines of 32,768 entries: about 1% of 10,000 keys find theirs full
    }
    SECTION("a window already over is not remembered") {
        fresh_memo memo(16);
        memo.remember(&route_a, "k", t0, t0);
        CHECK_FALSE(memo.fresh(&route_a, "k", t0));
    }
    SECTION("zero slots: off") {
        fresh_memo memo(0);
        memo.remember(&route_a, "k", t0, t0 + 500ms);
        CHECK_FALSE(memo.fresh(&route_a, "k", t0));
        memo.forget(&route_a, "k");
    }
}

// forget() skips lines nothing was remembered into for two epochs; it must never skip a live one.
TEST_CASE("fresh_memo: forget finds entries remembered in this epoch and the last", "[fresh_memo]") {
    fresh_memo memo(64);
    const auto t0 = fresh_memo::clock::now();
    memo.remember(&route_a, "first", t0, t0 + 500ms);  // starts an epoch at t0
    memo.remember(&route_a, "late", t0 + 900ms, t0 + 1800ms);
    memo.forget(&route_a, "nothing", t0 + 1100ms);  // a new epoch begins here
    CHECK(memo.fresh(&route_a, "late", t0 + 1100ms));
    memo.forget(&route_a, "late", t0 + 1200ms);  // remembered in the last epoch: still found
    CHECK_FALSE(memo.fresh(&route_a, "late", t0 + 1200ms));

    memo.remember(&route_a, "k", t0 + 1300ms, t0 + 2000ms);
    memo.forget(&route_a, "k", t0 + 5000ms);  // long after: ended anyway
    CHECK_FALSE(memo.fresh(&route_a, "k", t0 + 5000ms));
    memo.remember(&route_a, "k", t0 + 5100ms, t0 + 5500ms);
    CHECK(memo.fresh(&route_a, "k", t0 + 5200ms));
    memo.forget(&route_a, "k", t0 + 5200ms);
    CHECK_FALSE(memo.fresh(&route_a, "k", t0 + 5200ms));
}
