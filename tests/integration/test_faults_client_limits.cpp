// Faults and abuse, per-client limits: a client that pipelines and never reads its replies
// (limits.client_output_buffer), one client too many (limits.max_clients), idle, half-sent,
// trickling and blocked clients (limits.client_timeout), and the memory cost of 10,000 idle
// connections. Real redis-server and herdguard processes (stopped by PID); memory is judged by
// the proxy's VmRSS (see faults_helpers.h).
//
// Waiting: every wait is bounded (socket polls with deadlines, `eventually`, crowd collects).
#include <cerrno>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "faults_helpers.h"
#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

// ---------------------------------------------------------------------------------------------
// A client that pipelines and never reads is disconnected at limits.client_output_buffer,
// while one that pipelines as much but reads its replies is served.
TEST_CASE("output buffer: a client that never reads is disconnected, memory stays bounded",
          "[integration][faults]") {
    proxy_stack stack(with_limits("  client_output_buffer: 1mb\n"));
    const auto port = stack.proxy.port();
    auto bystander = stack.proxy_client();
    const std::string big(10 * kib, 'b');
    REQUIRE(bystander.cmd({"SET", "big", big}) == "+OK");
    const std::string one = encode_command({"GET", "big"});
    const std::string big_reply = "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
    constexpr std::size_t commands = 20000;  // 200 MB of replies

    rss_sampler rss(stack.proxy.pid());
    long long disconnects_expected = 0;

    {  // A: all 20,000 in one write, never read.
        std::string pipeline;
        pipeline.reserve(one.size() * commands);
        for (std::size_t i = 0; i < commands; ++i) pipeline += one;
        raw_conn hog(port);
        const auto t0 = steady::now();
        std::size_t sent = 0;
        const int err = hog.send_within(pipeline, 10s, &sent);
        const auto send_ms = ms_since(t0);
        CHECK(bystander.cmd({"GET", "by"}) == "(nil)");  // served meanwhile
        // Drain what was delivered before the close; the proxy must have closed.
        const bool closed = hog.wait_closed(10s);
        const auto closed_ms = ms_since(t0);
        // Nothing may reach the client here: the replies of one read's worth of commands (16 KB
        // of GETs, ~7 MB of replies) are gathered before they are written, and pass 1 MB first.
        // Redis gathers a read's replies the same way.
        WARN("output buffer, one write of 20,000 GETs: sent "
             << sent << " bytes in " << send_ms
             << " ms (send: " << (err ? std::strerror(err) : "complete") << "); closed after "
             << closed_ms << " ms; received " << hog.pending().size() << " bytes");
        CHECK(err != ETIMEDOUT);
        CHECK(closed);
        CHECK(hog.pending().size() < commands * big_reply.size());
        ++disconnects_expected;
        CHECK(herdguard_counter(port, "output_buffer_disconnects") >= disconnects_expected);
    }
    {  // B: 20 GETs (200 KB of replies) per write, 1 ms apart, never read: served until the
       // socket buffers are full, then disconnected.
        std::string window;
        for (int i = 0; i < 20; ++i) window += one;
        raw_conn hog(port);
        const auto t0 = steady::now();
        std::size_t sent_total = 0;
        int err = 0;
        while (sent_total < commands * one.size() && ms_since(t0) < 10'000) {
            std::size_t sent = 0;
            err = hog.send_within(window, 2s, &sent);
            sent_total += sent;
            if (err) break;
            std::this_thread::sleep_for(1ms);
        }
        const auto send_ms = ms_since(t0);
        const bool closed = hog.wait_closed(10s);
        const auto closed_ms = ms_since(t0);
        const auto received = hog.pending().size();
        WARN("output buffer, 20 GETs per write, never read: sent "
             << sent_total / one.size() << " GETs in " << send_ms
             << " ms (send: " << (err ? std::strerror(err) : "complete") << "); closed after "
             << closed_ms << " ms; received " << received << " bytes ("
             << received / big_reply.size() << " replies)");
        CHECK(err != ETIMEDOUT);
        CHECK(closed);
        CHECK(received > 0);
        CHECK(received < commands * big_reply.size());
        ++disconnects_expected;
        CHECK(herdguard_counter(port, "output_buffer_disconnects") >= disconnects_expected);
    }
    {  // C: the control. 2,000 GETs, 20 per write, each window's replies read before the next:
       // never more than 200 KB outstanding, so never disconnected.
        raw_conn reader(port, 5s);
        std::string window;
        for (int i = 0; i < 20; ++i) window += one;
        std::size_t good = 0;
        for (int w = 0; w < 100 && !reader.peer_closed(); ++w) {
            if (reader.send_within(window, 2s) != 0) break;
            for (int i = 0; i < 20; ++i)
                if (reader.read_reply() == big_reply) ++good;
        }
        CHECK(good == 2000);
        CHECK_FALSE(reader.peer_closed());
        CHECK(herdguard_counter(port, "output_buffer_disconnects") == disconnects_expected);
    }

    rss.stop();
    WARN("output buffer test: proxy " << rss.describe());
    CHECK_MEMORY_BOUND(rss.growth() < 128 * mib);
    CHECK(bystander.cmd({"SET", "by", "1"}) == "+OK");
    CHECK(bystander.cmd({"GET", "by"}) == "$1");
    // The hogs' sessions are gone once their last Redis replies are in (or timed out).
    CHECK(eventually([&] { return herdguard_counter(bystander, "connected_clients") == 1; }, 3s));
    require_running(stack.proxy);
}

// ---------------------------------------------------------------------------------------------
// limits.max_clients: the one too many gets Redis's error and a close; a freed slot is reused.
TEST_CASE("max_clients: the 21st client is refused, a freed slot admits a new one",
          "[integration][faults]") {
    proxy_stack stack(with_limits("  max_clients: 20\n"));
    const auto port = stack.proxy.port();
    // The readiness probe's connection may still be counted for a moment.
    REQUIRE(eventually([&] { return herdguard_counter(port, "connected_clients") == 1; }, 2s));

    std::vector<client> clients;
    clients.reserve(20);
    for (int i = 0; i < 20; ++i) {
        clients.emplace_back(port);
        INFO("client #" << i);
        REQUIRE(clients.back().cmd({"PING"}) == "+PONG");
    }
    {
        raw_conn extra(port);
        CHECK(extra.read_reply() == "-ERR max number of clients reached\r\n");
        CHECK(extra.wait_closed(2s));
    }
    {  // hiredis sees the same
        client extra(port);
        auto r = extra.cmd({"PING"});
        CHECK((r == "-ERR max number of clients reached" || starts_with(r, "!io:")));
    }
    CHECK(herdguard_counter(clients[0], "clients_rejected") >= 2);
    CHECK(herdguard_counter(clients[0], "connected_clients") == 20);

    clients.pop_back();  // frees one slot once the proxy has seen the hang-up
    std::string last;
    bool admitted = eventually(
        [&] {
            raw_conn c(port);
            if (!c.send("PING\r\n")) return false;
            last = c.read_reply();
            return last == "+PONG\r\n";
        },
        3s, 20ms);
    INFO("last reply: " << printable(last));
    CHECK(admitted);
    for (auto& c : clients) CHECK(c.cmd({"PING"}) == "+PONG");
    require_running(stack.proxy);
}

// ---------------------------------------------------------------------------------------------
// limits.client_timeout is an idle timeout on the connection, as Redis's `timeout`: a client
// that stops sending (mid-command or before any) is closed; one trickling bytes faster than the
// timeout is not idle and stays (so this is not a slowloris defence: that would need a deadline
// per request, which neither Redis nor herdguard has); a client blocked in BLPOP is exempt.
TEST_CASE("client_timeout: idle and half-sent clients are closed, blocked ones are exempt",
          "[integration][faults]") {
    proxy_stack stack(with_limits("  client_timeout: 1s\n"));
    const auto port = stack.proxy.port();
    constexpr auto timeout = 1000ms;

    raw_conn partial(port, 10s);
    raw_conn idle(port, 10s);
    raw_conn trickler(port, 10s);
    client blocked(port, 10s);
    auto direct = stack.direct_client();
    REQUIRE(direct.cmd({"DEL", "faults:q"}) == ":0");

    const auto t0 = steady::now();
    REQUIRE(partial.send("*1\r\n$4\r\nPI"));
    REQUIRE(trickler.send("*1\r\n$4\r\nPI"));
    blocked.append({"BLPOP", "faults:q", "5"});
    REQUIRE(blocked.flush());

    // One byte every 400 ms: "NG\r\n" completes the PING, then a second, inline PING.
    const std::string trickle = "NG\r\nPING\r\n";
    std::size_t trickled = 0;
    long long last_trickle_ms = 0;
    std::vector<std::string> trickle_replies;
    long long partial_closed = -1, idle_closed = -1, trickler_closed = -1;
    bool pushed = false;
    std::string blpop_reply;
    long long blpop_ms = -1;

    while (ms_since(t0) < 7000) {
        const auto now = ms_since(t0);
        if (partial_closed < 0 && partial.wait_closed(0ms)) partial_closed = now;
        if (idle_closed < 0 && idle.wait_closed(0ms)) idle_closed = now;
        if (trickled < trickle.size() && now >= 400 * static_cast<long long>(trickled + 1)) {
            if (!trickler.send(trickle.substr(trickled, 1))) {
                trickler_closed = now;
                break;
            }
            ++trickled;
            last_trickle_ms = now;
        }
        for (auto r = trickler.read_reply(0ms); !r.empty(); r = trickler.read_reply(0ms))
            trickle_replies.push_back(r);
        if (trickler_closed < 0 && trickler.peer_closed()) trickler_closed = now;
        if (!pushed && now >= 2000) {
            REQUIRE(direct.cmd({"LPUSH", "faults:q", "x"}) == ":1");
            pushed = true;
            blpop_reply = blocked.get_reply();
            blpop_ms = ms_since(t0);
        }
        if (partial_closed >= 0 && idle_closed >= 0 && trickler_closed >= 0 && pushed) break;
        std::this_thread::sleep_for(10ms);
    }

    WARN("client_timeout 1s, closed after (ms): partial "
         << partial_closed << ", idle " << idle_closed << ", trickler " << trickler_closed
         << " (last byte at " << last_trickle_ms << " ms); BLPOP reply " << blpop_reply << " at "
         << blpop_ms << " ms");
    // Half a command, then silence: closed after the timeout, within timeout + 1 s, no reply.
    CHECK(partial_closed >= timeout.count() - 50);
    CHECK(partial_closed <= (timeout + 1s).count());
    CHECK(partial.pending().empty());
    // Connected, never a byte: the same.
    CHECK(idle_closed >= timeout.count() - 50);
    CHECK(idle_closed <= (timeout + 1s).count());
    // The trickler is never idle for 1 s: served to the end, closed only once it goes quiet.
    CHECK(trickled == trickle.size());
    CHECK(trickle_replies == std::vector<std::string>{"+PONG\r\n", "+PONG\r\n"});
    CHECK(trickler_closed > last_trickle_ms + timeout.count() - 50);
    CHECK(trickler_closed <= last_trickle_ms + (timeout + 1s).count());
    // Blocked in BLPOP for 2 s (twice the timeout): not closed, gets the pushed element.
    CHECK(blpop_reply == "*[$faults:q, $x]");
    CHECK(blpop_ms < 2500);
    require_running(stack.proxy);
}

// ---------------------------------------------------------------------------------------------
// The memory cost of an idle connection.
TEST_CASE("10,000 idle connections: bytes per connection, all released on close",
          "[integration][faults]") {
    constexpr std::size_t connections = 10000;
    raise_fd_limit(connections + 1024);  // before the proxy starts: it inherits the limit
    // --threads 2; max_clients (default 10,000) leaves room for the INFO connections.
    proxy_stack stack(with_limits("  max_clients: 10100\n"));
    const auto port = stack.proxy.port();
    REQUIRE(stack.proxy_client().cmd({"PING"}) == "+PONG");
    std::this_thread::sleep_for(100ms);
    const std::size_t before = process_rss_bytes(stack.proxy.pid());
    std::size_t after = 0;
    const auto t0 = steady::now();
    {
        crowd idle({port}, connections, 30s);  // connects all, each answers one PING
        const auto connect_ms = ms_since(t0);
        std::this_thread::sleep_for(100ms);
        after = process_rss_bytes(stack.proxy.pid());
        CHECK(herdguard_counter(port, "connected_clients") ==
              static_cast<long long>(connections + 1));
        const std::size_t per = after > before ? (after - before) / connections : 0;
        const std::string figure = "idle connections: " + std::to_string(connections) + ", VmRSS " +
                                   mb_text(before) + " -> " + mb_text(after) + ", " +
                                   std::to_string(per) + " bytes per connection (" +
                                   std::to_string(connect_ms) + " ms to connect and PING)";
        WARN(figure);
        record(stack.dir, "bytes_per_idle_connection.txt", figure);
        CHECK_MEMORY_BOUND(per < 64 * kib);
    }
    // Every session is gone once the proxy has seen the hang-ups (the INFO connection remains).
    long long left = -1;
    CHECK(eventually(
        [&] {
            left = herdguard_counter(port, "connected_clients");
            return left == 1;
        },
        10s, 50ms));
    INFO("connected_clients still " << left);
    CHECK(stack.proxy_client().cmd({"PING"}) == "+PONG");
    require_running(stack.proxy);
}
