// The pipelined connection's bookkeeping without a socket: replies reach their handlers in order,
// across any split of the bytes; pushes go to the sink; anything out of step is reported.
#include <catch2/catch.hpp>

#include "herdguard/upstream/reply_pipeline.h"

using namespace herdguard;

namespace {

struct recorded final : reply_handler {
    std::vector<std::string> replies;
    void on_reply(std::string_view raw) override { replies.emplace_back(raw); }
    void on_failure(std::string_view raw) override { replies.emplace_back(raw); }
};

const auto far = reply_pipeline::clock::time_point::max();
const std::function<void(std::string_view)> no_sink;

}  // namespace

TEST_CASE("pipeline: replies go to their handlers in order, however the bytes are split", "[pipeline]") {
    const std::string bytes = "+OK\r\n$5\r\nhello\r\n*2\r\n:1\r\n$-1\r\n-ERR no\r\n";
    for (std::size_t cut = 0; cut <= bytes.size(); ++cut) {
        INFO("split at " << cut);
        reply_pipeline p(16);
        recorded a, b, c, d;
        for (auto* h : {&a, &b, &c, &d}) p.expect(h, far);
        bool stopped = false;
        std::size_t used = 0;
        std::string buf = bytes.substr(0, cut);
        REQUIRE(p.deliver(buf, used, no_sink, stopped) == reply_pipeline::delivery::ok);
        buf = buf.substr(used) + bytes.substr(cut);  // the connection keeps the partial reply
        REQUIRE(p.deliver(buf, used, no_sink, stopped) == reply_pipeline::delivery::ok);
        CHECK(used == buf.size());
        CHECK(a.replies == std::vector<std::string>{"+OK\r\n"});
        CHECK(b.replies == std::vector<std::string>{"$5\r\nhello\r\n"});
        CHECK(c.replies == std::vector<std::string>{"*2\r\n:1\r\n$-1\r\n"});
        CHECK(d.replies == std::vector<std::string>{"-ERR no\r\n"});
        CHECK(p.empty());
    }
}

TEST_CASE("pipeline: a reply nobody asked for is a push in relay mode, else out of step", "[pipeline]") {
    reply_pipeline p(4);
    bool stopped = false;
    std::size_t used = 0;
    std::vector<std::string> pushes;
    std::function<void(std::string_view)> sink = [&](std::string_view r) { pushes.emplace_back(r); };
    const std::string message = "*3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$2\r\nhi\r\n";
    CHECK(p.deliver(message, used, sink, stopped) == reply_pipeline::delivery::ok);
    CHECK(pushes == std::vector<std::string>{message});
    CHECK(p.deliver("+OK\r\n", used, no_sink, stopped) == reply_pipeline::delivery::unexpected_reply);
    CHECK(p.deliver("?bad\r\n", used, no_sink, stopped) == reply_pipeline::delivery::bad_reply);
    CHECK_FALSE(p.framing_error().empty());
}

TEST_CASE("pipeline: bounded, deadlines on the oldest, failed all at once, stops when told", "[pipeline]") {
    reply_pipeline p(2);
    recorded a, b, c;
    const auto now = reply_pipeline::clock::now();
    CHECK_FALSE(p.full());
    p.expect(&a, now + std::chrono::milliseconds(10));
    p.expect(&b, far);
    CHECK(p.full());
    CHECK_FALSE(p.overdue(now));
    CHECK(p.overdue(now + std::chrono::milliseconds(11)));
    // A handler that stops the connection: delivery ends after its reply.
    bool stopped = false;
    struct stopper final : reply_handler {
        bool* flag;
        void on_reply(std::string_view) override { *flag = true; }
        void on_failure(std::string_view) override {}
    } stop;
    stop.flag = &stopped;
    reply_pipeline q(4);
    q.expect(&stop, far);
    q.expect(&c, far);
    std::size_t used = 0;
    CHECK(q.deliver("+A\r\n+B\r\n", used, no_sink, stopped) == reply_pipeline::delivery::ok);
    CHECK(used == 4);
    CHECK(c.replies.empty());
    auto left = q.take_all();
    REQUIRE(left.size() == 1);
    CHECK(left.front().handler == &c);
    CHECK(q.empty());
}

TEST_CASE("pipeline: a RESP3 push goes to the sink, or without one in front of the reply it came before", "[pipeline]") {
    reply_pipeline p(4);
    recorded a, b;
    p.expect(&a, far);
    p.expect(&b, far);
    bool stopped = false;
    std::size_t used = 0;
    std::vector<std::string> pushes;
    std::function<void(std::string_view)> sink = [&](std::string_view r) { pushes.emplace_back(r); };
    const std::string invalidate = ">2\r\n$10\r\ninvalidate\r\n*1\r\n$1\r\nk\r\n";
    const std::string bytes = "$1\r\nv\r\n" + invalidate + "_\r\n";
    CHECK(p.deliver(bytes, used, sink, stopped) == reply_pipeline::delivery::ok);
    CHECK(used == bytes.size());
    CHECK(a.replies == std::vector<std::string>{"$1\r\nv\r\n"});
    CHECK(b.replies == std::vector<std::string>{"_\r\n"});
    CHECK(pushes == std::vector<std::string>{invalidate});
    // Without a sink (a shared connection, which subscribes and tracks nothing) a push is the
    // doing of the command being answered (DEBUG PROTOCOL push): it goes with that command's
    // reply, in front of it, as Redis sent them.
    recorded c;
    p.expect(&c, far);
    const std::string more = invalidate + "+OK\r\n";
    CHECK(p.deliver(more, used, no_sink, stopped) == reply_pipeline::delivery::ok);
    CHECK(used == more.size());
    CHECK(c.replies == std::vector<std::string>{more});
    CHECK(p.pushes_dropped() == 0);
    // Split after the push: nothing is consumed until the reply is complete, then both go.
    recorded d;
    p.expect(&d, far);
    const std::string split = invalidate + "$5\r\nhel";
    CHECK(p.deliver(split, used, no_sink, stopped) == reply_pipeline::delivery::ok);
    CHECK(used == 0);
    CHECK(d.replies.empty());
    const std::string whole = invalidate + "$5\r\nhello\r\n";
    CHECK(p.deliver(whole, used, no_sink, stopped) == reply_pipeline::delivery::ok);
    CHECK(used == whole.size());
    CHECK(d.replies == std::vector<std::string>{whole});
    // With nothing waiting, a push names no client: dropped and counted.
    CHECK(p.deliver(invalidate, used, no_sink, stopped) == reply_pipeline::delivery::ok);
    CHECK(used == invalidate.size());
    CHECK(p.pushes_dropped() == 1);
}
