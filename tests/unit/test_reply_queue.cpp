#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "herdguard/server/reply_queue.h"

using namespace herdguard;

namespace {
struct recorder final : reply_queue::sink {
    std::string out;
    std::string flushed;  // what out held at the last flush_now()
    int all_answered_calls = 0;
    void write_reply(std::string_view bytes) override { out.append(bytes); }
    void all_answered() override { ++all_answered_calls; }
    void flush_now() override { flushed = out; }
};
}  // namespace

TEST_CASE("replies leave in request order whatever order they complete in", "[ordering]") {
    recorder rec;
    reply_queue q(rec);
    auto& a = q.expect();
    q.push_ready(":local\r\n");
    auto& b = q.expect();
    auto& c = q.expect();
    REQUIRE(q.outstanding() == 3);
    c.on_reply("+c\r\n");
    b.on_failure("-ERR b\r\n");
    REQUIRE(rec.out.empty());  // the head is still missing
    REQUIRE(rec.all_answered_calls == 0);
    a.on_reply("+a\r\n");
    REQUIRE(rec.out == "+a\r\n:local\r\n-ERR b\r\n+c\r\n");
    REQUIRE(q.outstanding() == 0);
    REQUIRE(q.queued() == 0);
    REQUIRE(rec.all_answered_calls == 1);
}

TEST_CASE("every permutation of completion gives the same output", "[ordering]") {
    std::vector<int> order = {0, 1, 2, 3, 4};
    do {
        recorder rec;
        reply_queue q(rec);
        std::vector<reply_queue::slot*> slots;
        for (int i = 0; i < 5; ++i) slots.push_back(&q.expect());
        for (int i : order) slots[static_cast<std::size_t>(i)]->on_reply("+" + std::to_string(i) + "\r\n");
        REQUIRE(rec.out == "+0\r\n+1\r\n+2\r\n+3\r\n+4\r\n");
    } while (std::next_permutation(order.begin(), order.end()));
}

TEST_CASE("suppressed replies (CLIENT REPLY OFF/SKIP) run but are not written", "[ordering]") {
    recorder rec;
    reply_queue q(rec);
    auto& a = q.expect(true);
    auto& b = q.expect();
    q.push_ready("+dropped\r\n", true);
    b.on_reply("+b\r\n");
    a.on_reply("+a\r\n");
    REQUIRE(rec.out == "+b\r\n");
    REQUIRE(q.outstanding() == 0);
}

TEST_CASE("a slot's address stays valid while later slots come and go", "[ordering]") {
    recorder rec;
    reply_queue q(rec);
    auto& first = q.expect();
    std::vector<reply_queue::slot*> later;
    for (int i = 0; i < 1000; ++i) later.push_back(&q.expect());
    for (auto* s : later) s->on_reply("+x\r\n");
    first.on_reply("+first\r\n");
    REQUIRE(rec.out.rfind("+first\r\n", 0) == 0);
    REQUIRE(rec.out.size() == 8 + 1000 * 4);
}

// SET then BLPOP, pipelined: SET's +OK must not wait for BLPOP, which may block for minutes.
TEST_CASE("replies before a blocking command are flushed as soon as it is the oldest unanswered", "[ordering]") {
    recorder rec;
    reply_queue q(rec);
    auto& set = q.expect();
    auto& blpop = q.expect();
    q.mark_blocking(blpop);
    CHECK(rec.flushed.empty());  // SET is still out
    set.on_reply("+OK\r\n");
    CHECK(rec.flushed == "+OK\r\n");  // now, not after BLPOP
    blpop.on_reply("*-1\r\n");
    CHECK(rec.out == "+OK\r\n*-1\r\n");

    // A local reply ahead of a blocking command goes out when the command is marked.
    recorder rec2;
    reply_queue q2(rec2);
    q2.push_ready("+PONG\r\n");
    auto& wait = q2.expect();
    q2.mark_blocking(wait);
    CHECK(rec2.flushed == "+PONG\r\n");
    wait.on_reply(":0\r\n");

    // Without a blocking command nothing is flushed early: one write per batch.
    recorder rec3;
    reply_queue q3(rec3);
    auto& x = q3.expect();
    auto& y = q3.expect();
    x.on_reply("+x\r\n");
    y.on_reply("+y\r\n");
    CHECK(rec3.flushed.empty());
}
