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
        memo.forget("other");  // another key in the same slot or not: k stays
        CHECK(memo.fresh(&route_a, "k", t0));
        memo.forget("k");
        CHECK_FALSE(memo.fresh(&route_a, "k", t0));
    }
    SECTION("a one-slot table keeps only the newest key, and never confuses two keys") {
        fresh_memo memo(1);
        CHECK(memo.slots() == 1);
        memo.remember(&route_a, "a", t0, t0 + 500ms);
        memo.remember(&route_a, "b", t0, t0 + 500ms);
        CHECK_FALSE(memo.fresh(&route_a, "a", t0));
        CHECK(memo.fresh(&route_a, "b", t0));
    }
    SECTION("slots round up to a power of two") {
        CHECK(fresh_memo(1000).slots() == 1024);
    }
    SECTION("keys longer than max_key_bytes are not remembered") {
        fresh_memo memo(16);
        const std::string long_key(fresh_memo::max_key_bytes + 1, 'x');
        memo.remember(&route_a, long_key, t0, t0 + 500ms);
        CHECK_FALSE(memo.fresh(&route_a, long_key, t0));
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
        memo.forget("k");
    }
}
