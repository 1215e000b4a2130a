// The herd engine's L1 step (read_step.cpp, l1_cache.h) against a scripted Redis: served from
// memory only while tracking is up, filled only under a reservation that no invalidation voided,
// admitted by heat, and never kept past the value's fresh life or max_age.
#include "herd_engine_fixture.h"

using namespace herdguard;
using namespace herdguard::testing;

namespace {

route_config l1_route(bool admit_hot = false) {
    auto r = test_route();
    r.l1_max_bytes = 1 << 20;
    r.l1_admit_hot = admit_hot;
    return r;
}

constexpr std::int64_t keep = 300'000;  // stale_if_error: kept in Redis this long past fresh

// Answers one read (PTTL then GET) with `fresh_ms` of fresh life and `value`.
void answer_fresh(engine_fixture& f, std::int64_t fresh_ms, const std::string& value) {
    CHECK(f.redis.answer(":" + std::to_string(keep + fresh_ms) + "\r\n").argv[0] == "PTTL");
    CHECK(f.redis.answer("$" + std::to_string(value.size()) + "\r\n" + value + "\r\n").argv[0] == "GET");
}

}  // namespace

TEST_CASE("herd L1: a fresh read fills L1 and the next read never reaches Redis, while tracking is up",
          "[herd_engine][l1]") {
    fake_time time;
    engine_fixture f(l1_route());
    recorded off;  // tracking not up yet: L1 neither serves nor fills
    f.get("k:1", off);
    answer_fresh(f, 60'000, "v0");
    CHECK(f.route().l1->entries() == 0);

    f.engine.l1_set_active(true);
    recorded first, second;
    f.get("k:1", first);
    REQUIRE(f.redis.sent.size() == 2);  // PTTL + GET although the memo knows k:1 fresh: a fill needs PTTL
    answer_fresh(f, 60'000, "v1");
    CHECK(f.counter(&route_counters::l1_fills) == 1);
    f.get("k:1", second);
    CHECK(f.redis.sent.empty());
    CHECK(second.replies == std::vector<std::string>{"$2\r\nv1\r\n"});
    CHECK(f.counter(&route_counters::l1_hits) == 1);
    CHECK(f.engine.l1_holds("k:1"));

    // A write (through herdguard, or announced by tracking) drops it.
    f.engine.l1_invalidate("k:1");
    CHECK(f.counter(&route_counters::l1_invalidations) == 1);
    recorded after;
    f.get("k:1", after);
    CHECK(f.redis.sent.size() == 2);
    answer_fresh(f, 60'000, "v2");
    CHECK(after.replies == std::vector<std::string>{"$2\r\nv2\r\n"});

    // Tracking lost: L1 is off and empty at once.
    f.engine.l1_set_active(false);
    CHECK(f.route().l1->entries() == 0);
    recorded lost;
    f.get("k:1", lost);
    REQUIRE(f.redis.sent.size() == 1);  // GET alone: the memo still knows k:1 fresh
    f.redis.answer("$2\r\nv3\r\n");  // every read answered: none is left behind (ASan)
    CHECK(lost.replies == std::vector<std::string>{"$2\r\nv3\r\n"});
    CHECK(f.route().l1->entries() == 0);
}

TEST_CASE("herd L1: an invalidation during the read voids its fill", "[herd_engine][l1]") {
    fake_time time;
    engine_fixture f(l1_route());
    f.engine.l1_set_active(true);
    recorded racing;
    f.get("k:1", racing);
    f.engine.l1_invalidate("k:1");  // the write's invalidation arrives before the read's reply
    answer_fresh(f, 60'000, "old");
    CHECK(racing.replies == std::vector<std::string>{"$3\r\nold\r\n"});  // the reader itself may see it
    CHECK(f.counter(&route_counters::l1_fills_voided) == 1);
    CHECK(f.route().l1->entries() == 0);

    recorded flushed;  // and a flush in the same place
    f.get("k:1", flushed);
    f.engine.l1_flush();
    answer_fresh(f, 60'000, "old");
    CHECK(f.counter(&route_counters::l1_fills_voided) == 2);
    CHECK(f.route().l1->entries() == 0);
}

TEST_CASE("herd L1: an entry ends with the value's fresh life or max_age, whichever is first", "[herd_engine][l1]") {
    fake_time time;
    auto r = l1_route();
    r.l1_max_age = 5000ms;
    engine_fixture f(r);
    f.engine.l1_set_active(true);
    recorded a, b, c;
    f.get("k:1", a);
    answer_fresh(f, 300, "short");  // 300 ms of fresh life left
    f.get("k:1", b);
    CHECK(f.redis.sent.empty());
    fake_now += 300ms;
    f.get("k:1", c);
    CHECK(f.redis.sent.size() == 2);  // expired with its fresh life: Redis decides again
    answer_fresh(f, 60'000, "long");
    fake_now += 4999ms;
    recorded d, e;
    f.get("k:1", d);
    CHECK(f.redis.sent.empty());
    fake_now += 1ms;
    f.get("k:1", e);
    CHECK(f.redis.sent.size() == 2);  // max_age passed: read from Redis again (and refilled)
    answer_fresh(f, 60'000, "long");
}

TEST_CASE("herd L1: admit hot fills only keys read at the threshold rate", "[herd_engine][l1]") {
    fake_time time;
    auto r = l1_route(/*admit_hot=*/true);
    r.l1_hot_reads_per_second = 100;
    engine_fixture f(r);
    f.engine.l1_set_active(true);
    recorded cold;
    f.get("k:1", cold);
    answer_fresh(f, 60'000, "v");
    CHECK(f.route().l1->entries() == 0);
    f.engine.set_hot_keys({{"k:1", 640}, {"k:2", 64}});
    recorded hot, warm;
    f.get("k:1", hot);
    answer_fresh(f, 60'000, "v");
    f.get("k:2", warm);
    answer_fresh(f, 60'000, "w");
    CHECK(f.engine.l1_holds("k:1"));
    CHECK_FALSE(f.engine.l1_holds("k:2"));
}

TEST_CASE("herd L1: a read that finds no fresh value gives its reservation back", "[herd_engine][l1]") {
    fake_time time;
    engine_fixture f(l1_route());
    f.engine.l1_set_active(true);
    recorded failed;
    f.get("k:1", failed);
    CHECK(f.route().l1->bytes() > 0);  // reserved while the read is out
    f.redis.answer(":-2\r\n");
    f.redis.answer("-ERR redis said no\r\n");
    CHECK(failed.replies == std::vector<std::string>{"-ERR redis said no\r\n"});
    CHECK(f.route().l1->bytes() == 0);
}
