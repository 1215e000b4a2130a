// The herd engine without sockets: a scripted backend stands in for Redis (the test answers each
// command the engine sends, in order) and a scripted loader for the upstream. A real io_context;
// the tests that are about time drive the herd clock by hand (fake_time), timers included. Every
// wait is bounded (run_until), nothing sleeps.
#include "herd_engine_fixture.h"

using namespace herdguard;
using namespace herdguard::testing;

TEST_CASE("herd engine: 100 misses on one key make one lease, one load, one write", "[herd_engine]") {
    engine_fixture f;
    std::vector<recorded> slots(100);
    for (auto& s : slots) f.get("k:1", s);
    REQUIRE(f.redis.sent.size() == 200);  // PTTL + GET each
    for (std::size_t i = 0; i < slots.size(); ++i) f.answer_read_miss();

    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    // Won, with the value key's state then (lease_scripts.h), which the write-back must find again.
    auto acquire = f.redis.answer("*2\r\n$3\r\nwon\r\n$4\r\nnone\r\n");
    REQUIRE(acquire.argv.size() == 11);
    CHECK(acquire.argv[2] == "4");  // the lease script: value, lock, negative and failure keys
    CHECK(acquire.argv[3] == "k:1");
    CHECK(acquire.argv[4] == "herdguard:lock:k:1");
    CHECK(acquire.argv.back() == "0");  // not contended

    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));  // the write-back
    auto write = f.redis.answer(":1\r\n");
    REQUIRE(write.argv.size() == 10);
    CHECK(write.argv[6] == acquire.argv[7]);  // written under our token
    CHECK(write.argv[7] == "v1");
    CHECK(write.argv[9] == "none");  // only while the key is still as ACQUIRE found it

    REQUIRE(f.run_until([&] {
        return std::all_of(slots.begin(), slots.end(), [](const recorded& s) { return !s.replies.empty(); });
    }));
    for (const auto& s : slots) CHECK(s.replies == std::vector<std::string>{"$2\r\nv1\r\n"});
    CHECK(f.http.calls == 1);
    CHECK(f.counter(&route_counters::misses) == 100);
    CHECK(f.counter(&route_counters::coalesced) == 99);
    CHECK(f.counter(&route_counters::lock_acquired) == 1);
    CHECK(f.counter(&route_counters::loads_ok) == 1);
    CHECK(f.redis.sent.empty());
    CHECK(f.engine.idle());
}

TEST_CASE("herd engine: a lease held elsewhere is polled, then taken over when it expires", "[herd_engine]") {
    fake_time time;
    engine_fixture f;
    recorded slot;
    f.get("k:1", slot);
    f.answer_read_miss();
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    f.redis.answer("*1\r\n$4\r\nlost\r\n");  // another instance holds the lease
    // The flight polls again 10 ms later on the herd clock, and not before; by then the holder's
    // lease has expired in Redis.
    f.run_for(20ms);
    CHECK(f.redis.sent.empty());
    fake_now += 10ms;
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    auto retry = f.redis.answer("*1\r\n$3\r\nwon\r\n");
    CHECK(retry.argv.back() == "1");  // it says it waited: a '~' failure is news to it
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    f.redis.answer(":1\r\n");
    REQUIRE(f.run_until([&] { return !slot.replies.empty(); }));
    CHECK(slot.replies == std::vector<std::string>{"$2\r\nv1\r\n"});
    CHECK(f.counter(&route_counters::lock_contended) == 1);
    CHECK(f.counter(&route_counters::lock_taken_over) == 1);
    CHECK(f.counter(&route_counters::lock_acquired) == 0);
    CHECK(f.http.calls == 1);
}

TEST_CASE("herd engine: a waiter gets its error at wait_timeout while the flight goes on", "[herd_engine]") {
    fake_time time;
    auto r = test_route();
    r.wait_timeout = 5s;  // on the herd clock: passes when the test says so, not in real time
    engine_fixture f(r);
    recorded slot;
    f.get("k:1", slot);
    f.answer_read_miss();
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    // The lease script is never answered in time. Until the clock moves, nobody is answered.
    f.run_for(20ms);
    CHECK(slot.replies.empty());
    fake_now += 4999ms;
    f.run_for(20ms);
    CHECK(slot.replies.empty());
    fake_now += 1ms;
    REQUIRE(f.run_until([&] { return !slot.replies.empty(); }));
    CHECK(slot.replies == std::vector<std::string>{"-ERR herdguard: upstream 'r' unavailable (timeout after 5000ms)\r\n"});
    CHECK(f.counter(&route_counters::wait_timeouts) == 1);
    // The flight itself finishes when Redis answers, and answers nobody twice.
    f.redis.answer("*1\r\n$3\r\nwon\r\n");
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    f.redis.answer(":1\r\n");
    REQUIRE(f.run_until([&] { return f.engine.idle(); }));
    CHECK(slot.replies.size() == 1);
}

TEST_CASE("herd engine: a write revokes the lease; the late load's write-back is refused", "[herd_engine]") {
    engine_fixture f;
    recorded slot;
    f.load_to_write_back("k:1", slot, "*1\r\n$3\r\nwon\r\n");
    // A client writes the key through herdguard meanwhile: the lease and markers go first.
    f.engine.revoke(*f.engine.find_route("k:1"), "k:1", f.hc, f.redis);
    REQUIRE(f.redis.sent.size() == 2);
    CHECK(f.redis.sent.back().argv ==
          std::vector<std::string>{"DEL", "herdguard:lock:k:1", "herdguard:neg:k:1", "herdguard:fail:k:1"});
    // Redis runs the DEL first in real life, so the write-back script finds another token: 0.
    f.redis.answer(":0\r\n");
    f.redis.answer(":3\r\n");
    REQUIRE(f.run_until([&] { return !slot.replies.empty(); }));
    CHECK(f.counter(&route_counters::lock_lost_at_write) == 1);
    CHECK(slot.replies == std::vector<std::string>{"$2\r\nv1\r\n"});  // the waiter still gets what was loaded
}

TEST_CASE("herd engine: a write-back refused because a client wrote the key is counted apart", "[herd_engine]") {
    engine_fixture f;
    recorded slot;
    f.load_to_write_back("k:1", slot);
    f.redis.answer(":-1\r\n");  // the script found a value a client wrote during the load
    REQUIRE(f.run_until([&] { return !slot.replies.empty(); }));
    CHECK(f.counter(&route_counters::write_back_skipped) == 1);
    CHECK(f.counter(&route_counters::lock_lost_at_write) == 0);
    CHECK(slot.replies == std::vector<std::string>{"$2\r\nv1\r\n"});
}

TEST_CASE("herd engine: a failed load is remembered for error_ttl, or 250 ms marked '~' with error_ttl 0",
          "[herd_engine]") {
    for (auto [error_ttl, reason, px] : {std::tuple{1000ms, std::string("upstream said 500"), std::string("1000")},
                                         std::tuple{0ms, std::string("~upstream said 500"), std::string("250")}}) {
        DYNAMIC_SECTION("error_ttl " << error_ttl.count() << "ms") {
            auto r = test_route();
            r.error_ttl = error_ttl;
            engine_fixture f(r);
            f.http.next = {load_result::kind::failed, {}, "upstream said 500"};
            recorded slot;
            f.load_to_write_back("k:1", slot, "*1\r\n$3\r\nwon\r\n");
            auto release = f.redis.answer(":1\r\n");
            // KEYS lock, failure; ARGV token, reason, px.
            REQUIRE(release.argv.size() == 8);
            CHECK(release.argv[3] == "herdguard:lock:k:1");
            CHECK(release.argv[4] == "herdguard:fail:k:1");
            CHECK(release.argv[6] == reason);
            CHECK(release.argv[7] == px);
            REQUIRE(f.run_until([&] { return !slot.replies.empty(); }));
            CHECK(slot.replies ==
                  std::vector<std::string>{"-ERR herdguard: upstream 'r' unavailable (upstream said 500)\r\n"});
            CHECK(f.counter(&route_counters::loads_failed) == 1);
        }
    }
}


TEST_CASE("herd engine: the fresh memo follows the injected clock", "[herd_engine]") {
    fake_time time;
    engine_fixture f;
    recorded first;
    f.get("k:1", first);
    // Fresh for an hour more than the stale window keeps: remembered fresh (for 1 s at most).
    CHECK(f.redis.answer(":3900000\r\n").argv[0] == "PTTL");
    f.redis.answer("$2\r\nv0\r\n");
    CHECK(first.replies == std::vector<std::string>{"$2\r\nv0\r\n"});

    recorded second;
    f.get("k:1", second);
    REQUIRE(f.redis.sent.size() == 1);  // GET alone: the memo knows it fresh
    CHECK(f.redis.answer("$2\r\nv0\r\n").argv[0] == "GET");
    CHECK(f.counter(&route_counters::memo_hits) == 1);

    fake_now += 2s;  // past the memo's 1 s window
    recorded third;
    f.get("k:1", third);
    REQUIRE(f.redis.sent.size() == 2);
    CHECK(f.redis.sent.front().argv[0] == "PTTL");
    f.redis.answer(":3900000\r\n");
    f.redis.answer("$2\r\nv0\r\n");
    CHECK(f.counter(&route_counters::memo_hits) == 1);
    CHECK(f.counter(&route_counters::hits) == 3);
}

TEST_CASE("herd engine: a lease holder that never finishes is given up on at lock_ttl + wait_timeout",
          "[herd_engine]") {
    auto r = test_route();
    r.lock_ttl = 1000ms;
    r.wait_timeout = 10s;
    fake_time time;
    engine_fixture f(r);
    recorded first;
    f.get("k:1", first);
    f.answer_read_miss();
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    f.redis.answer("*1\r\n$4\r\nlost\r\n");  // held elsewhere, and it never finishes
    f.run_for(20ms);  // the flight takes the answer in and sleeps until its next poll
    CHECK(f.redis.sent.empty());
    // A second client joins the flight at 9 s: the flight keeps polling for it after the first
    // one's wait_timeout (10 s).
    fake_now += 9s;
    recorded second;
    f.get("k:1", second);  // joins the running flight: no read of its own
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    f.redis.answer("*1\r\n$4\r\nlost\r\n");
    f.run_for(20ms);
    fake_now += 2s;  // 11 s: past the first waiter's timeout, and at lock_ttl + wait_timeout
    REQUIRE(f.run_until([&] { return !first.replies.empty() && f.redis.count("EVAL") == 1; }));
    f.redis.answer("*1\r\n$4\r\nlost\r\n");  // the poll: still held, and now past the give-up time
    REQUIRE(f.run_until([&] { return !second.replies.empty(); }));
    CHECK(first.replies == std::vector<std::string>{"-ERR herdguard: upstream 'r' unavailable (timeout after 10000ms)\r\n"});
    CHECK(second.replies ==
          std::vector<std::string>{"-ERR herdguard: upstream 'r' unavailable (lease holder did not finish)\r\n"});
    CHECK(f.redis.sent.empty());  // it did not poll again
    CHECK(f.http.calls == 0);
    CHECK(f.engine.idle());
}

TEST_CASE("herd engine: lease tokens and TTL jitter come from the injected randomness", "[herd_engine]") {
    engine_fixture f;  // ttl 60 s, jitter 0.2, stale_if_error 300 s kept after it
    fake_draws = 0;
    f.hc.random = &fake_random;
    recorded slot;
    f.get("k:1", slot);
    f.answer_read_miss();
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    auto acquire = f.redis.answer("*1\r\n$3\r\nwon\r\n");
    CHECK(acquire.argv[7] == "11111111111111110000000000000000");
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    auto write = f.redis.answer(":1\r\n");
    // A draw of 0 is the bottom of the jitter: 60 s * (1 - 0.2), plus the 300 s kept for stale.
    CHECK(write.argv[8] == std::to_string(48000 + 300000));
    REQUIRE(f.run_until([&] { return !slot.replies.empty(); }));
}


TEST_CASE("herd engine: early refresh (XFetch) refreshes a fresh value near its expiry, once, through the lease",
          "[herd_engine]") {
    auto r = test_route();
    r.early_refresh_beta = 1.0;
    fake_time time;
    engine_fixture f(r);
    f.hc.random = &scripted_draw;
    f.route().load_time_us = 50'000;  // delta: 50 ms
    const std::int64_t keep = 300'000;  // stale_if_error: kept in Redis this long past fresh

    // 60 s of fresh life left: far beyond delta * beta * 36.7 = 1.8 s, so no refresh whatever U.
    next_draw = draw_u_near_0;
    recorded far;
    f.get("k:1", far);
    f.redis.answer(":" + std::to_string(keep + 60'000) + "\r\n");
    f.redis.answer("$2\r\nv0\r\n");
    CHECK(far.replies == std::vector<std::string>{"$2\r\nv0\r\n"});
    f.run_for(20ms);
    CHECK(f.redis.sent.empty());
    CHECK(f.counter(&route_counters::early_refreshes) == 0);

    // Past the memo's end (which stops 10 * delta = 500 ms short of expiry): reads see PTTL again.
    fake_now += 59'600ms;
    next_draw = draw_u_1;  // 400 ms left, U = 1: not yet
    recorded near_no;
    f.get("k:1", near_no);
    REQUIRE(f.redis.sent.size() == 2);  // PTTL + GET: the memo no longer covers it
    f.redis.answer(":" + std::to_string(keep + 400) + "\r\n");
    f.redis.answer("$2\r\nv0\r\n");
    f.run_for(20ms);
    CHECK(f.redis.sent.empty());

    next_draw = draw_u_near_0;  // 400 ms left, U near 0: refresh now
    recorded near;
    f.get("k:1", near);
    f.redis.answer(":" + std::to_string(keep + 400) + "\r\n");
    f.redis.answer("$2\r\nv0\r\n");
    CHECK(near.replies == std::vector<std::string>{"$2\r\nv0\r\n"});  // answered at once, fresh
    CHECK(f.counter(&route_counters::early_refreshes) == 1);
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    recorded again;  // a read while the refresh runs
    f.get("k:1", again);
    auto acquire = f.redis.answer("*1\r\n$3\r\nwon\r\n");
    // ACQUIRE counts the value as refreshed only with more than the 400 ms the reader saw.
    CHECK(acquire.argv[9] == std::to_string(keep + 400));
    REQUIRE(f.run_until([&] { return f.redis.sent.size() == 3; }));  // loaded: + the write-back
    // The second read would refresh too (U near 0), but one flight per key runs already.
    f.redis.answer(":" + std::to_string(keep + 390) + "\r\n");
    f.redis.answer("$2\r\nv0\r\n");
    CHECK(again.replies == std::vector<std::string>{"$2\r\nv0\r\n"});
    CHECK(f.counter(&route_counters::early_refreshes) == 1);
    CHECK(f.redis.answer(":1\r\n").argv[7] == "v1");  // the write-back of the loaded value
    REQUIRE(f.run_until([&] { return f.engine.idle(); }));
    CHECK(f.http.calls == 1);
    CHECK(f.counter(&route_counters::early_refreshes) == 1);
    CHECK(f.counter(&route_counters::background_refreshes) == 0);
    CHECK(f.counter(&route_counters::stale_hits) == 0);
    CHECK(f.counter(&route_counters::misses) == 0);
}

TEST_CASE("herd engine: an early refresh finds the value refreshed elsewhere and loads nothing", "[herd_engine]") {
    auto r = test_route();
    r.early_refresh_beta = 2.0;
    fake_time time;
    engine_fixture f(r);
    f.hc.random = &scripted_draw;
    f.route().load_time_us = 10'000;
    next_draw = draw_u_near_0;
    recorded slot;
    f.get("k:1", slot);
    f.redis.answer(":" + std::to_string(300'000 + 100) + "\r\n");
    f.redis.answer("$2\r\nv0\r\n");
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    f.redis.answer("*2\r\n$3\r\nhit\r\n$2\r\nv1\r\n");  // another instance refreshed it first
    REQUIRE(f.run_until([&] { return f.engine.idle(); }));
    CHECK(f.http.calls == 0);
    CHECK(f.redis.sent.empty());
    CHECK(slot.replies == std::vector<std::string>{"$2\r\nv0\r\n"});
}

TEST_CASE("herd engine: without early_refresh, or before any load was timed, a fresh read never refreshes",
          "[herd_engine]") {
    route_runtime off(test_route());
    off.load_time_us = 50'000;
    CHECK_FALSE(refresh_early(off, 1, draw_u_near_0));
    auto r = test_route();
    r.early_refresh_beta = 1.0;
    route_runtime on(r);
    CHECK_FALSE(refresh_early(on, 1, draw_u_near_0));  // delta unknown yet
    on.load_time_us = 50'000;
    CHECK(refresh_early(on, 1000, draw_u_near_0));     // 50 ms * 36.7 >= 1 s
    CHECK_FALSE(refresh_early(on, 2000, draw_u_near_0));
    CHECK_FALSE(refresh_early(on, 1, draw_u_1));        // -ln(1) = 0
    CHECK(early_window_ms(on) == 500);
    CHECK(early_window_ms(off) == 0);
}

TEST_CASE("herd engine: an early refresh that finds the lease held pauses that key's early refreshes",
          "[herd_engine]") {
    auto r = test_route();
    r.early_refresh_beta = 1.0;
    fake_time time;
    engine_fixture f(r);
    f.hc.random = &scripted_draw;
    f.route().load_time_us = 50'000;  // delta 50 ms: the pause is 50 ms
    next_draw = draw_u_near_0;        // every read near expiry would refresh
    const auto read_near_expiry = [&](recorded& slot) {
        f.get("k:1", slot);
        f.redis.answer(":" + std::to_string(300'000 + 200) + "\r\n");
        f.redis.answer("$2\r\nv0\r\n");
    };
    recorded first;
    read_near_expiry(first);
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    f.redis.answer("*1\r\n$4\r\nlost\r\n");  // another instance holds the lease
    REQUIRE(f.run_until([&] { return f.engine.idle(); }));
    CHECK(f.counter(&route_counters::early_refresh_pauses) == 1);

    recorded paused;  // 49 ms later: still paused, no flight
    fake_now += 49ms;
    read_near_expiry(paused);
    f.run_for(20ms);
    CHECK(f.redis.sent.empty());
    CHECK(f.counter(&route_counters::early_refreshes) == 1);

    recorded after;  // past the pause: one more early refresh
    fake_now += 2ms;
    read_near_expiry(after);
    REQUIRE(f.run_until([&] { return f.redis.count("EVAL") == 1; }));
    CHECK(f.counter(&route_counters::early_refreshes) == 2);
    f.redis.answer("*2\r\n$3\r\nhit\r\n$2\r\nv1\r\n");  // refreshed by the holder meanwhile
    REQUIRE(f.run_until([&] { return f.engine.idle(); }));
    CHECK(f.counter(&route_counters::early_refresh_pauses) == 1);  // a hit is not a pause
    CHECK(f.http.calls == 0);
    CHECK(paused.replies == std::vector<std::string>{"$2\r\nv0\r\n"});
}
