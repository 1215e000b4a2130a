// Byte-level client protocol: malformed requests get Redis's exact protocol error and a closed
// connection without disturbing anyone else; inline and byte-by-byte requests work.
#include <atomic>
#include <thread>

#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

struct garbage_case {
    std::string bytes;
    std::string expected;  // Redis 7.0's reply, byte for byte
};

const std::vector<garbage_case>& garbage_cases() {
    static const std::vector<garbage_case> cases{
        {"*1\r\n$abc\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
        {"*abc\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
        {"*1\r\nfoo\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n"},
        {"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
    };
    return cases;
}

std::string printable(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '\r')
            out += "\\r";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

}  // namespace

TEST_CASE(
    "malformed RESP gets Redis's protocol error, the connection closes, others are unaffected",
    "[integration][protocol]") {
    proxy_stack stack;
    auto bystander = stack.proxy_client();
    REQUIRE(bystander.cmd({"SET", "by", "0"}) == "+OK");

    int round = 0;
    for (const auto& gc : garbage_cases()) {
        INFO("garbage: " << printable(gc.bytes));
        {  // The premise: this is what Redis itself answers.
            raw_conn direct(stack.redis.port());
            REQUIRE(direct.send(gc.bytes));
            REQUIRE(direct.read_reply() == gc.expected);
            REQUIRE(direct.wait_closed());
        }
        raw_conn conn(stack.proxy.port());
        REQUIRE(conn.send(gc.bytes));
        auto got = conn.read_reply();
        INFO("proxy replied: " << printable(got) << " (pending: " << printable(conn.pending())
                               << ")");
        CHECK(got == gc.expected);
        CHECK(conn.wait_closed(2s));

        auto value = std::to_string(++round);
        CHECK(bystander.cmd({"PING"}) == "+PONG");
        CHECK(bystander.cmd({"SET", "by", value}) == "+OK");
        CHECK(bystander.cmd({"GET", "by"}) == "$" + value);
    }

    // Commands before the garbage in the same packet are still answered, in order.
    raw_conn conn(stack.proxy.port());
    REQUIRE(conn.send("*1\r\n$4\r\nPING\r\n*1\r\n$abc\r\n"));
    CHECK(conn.read_reply() == "+PONG\r\n");
    CHECK(conn.read_reply() == "-ERR Protocol error: invalid bulk length\r\n");
    CHECK(conn.wait_closed(2s));
    require_proxy_alive(stack);
}

TEST_CASE("inline commands work telnet-style through the proxy", "[integration][protocol]") {
    proxy_stack stack;
    raw_conn conn(stack.proxy.port());
    REQUIRE(conn.send("SET inl 5\r\n"));
    CHECK(conn.read_reply() == "+OK\r\n");
    REQUIRE(conn.send("GET inl\r\n"));
    CHECK(conn.read_reply() == "$1\r\n5\r\n");
    REQUIRE(conn.send("PING\r\nGET inl\r\n"));
    CHECK(conn.read_reply() == "+PONG\r\n");
    CHECK(conn.read_reply() == "$1\r\n5\r\n");
    CHECK(stack.direct_client().cmd({"GET", "inl"}) == "$5");
    require_proxy_alive(stack);
}

TEST_CASE("a command sent one byte at a time still works", "[integration][protocol]") {
    proxy_stack stack;
    raw_conn conn(stack.proxy.port());
    const std::string request =
        "*3\r\n$3\r\nSET\r\n$5\r\nsplit\r\n$2\r\nok\r\n*2\r\n$3\r\nGET\r\n$5\r\nsplit\r\n";
    // The pauses are the point: each byte should reach the proxy as its own read.
    for (char byte : request) {
        REQUIRE(conn.send(std::string(1, byte)));
        std::this_thread::sleep_for(1ms);
    }
    CHECK(conn.read_reply() == "+OK\r\n");
    CHECK(conn.read_reply() == "$2\r\nok\r\n");
    for (char byte : std::string("GET split\r\n")) {
        REQUIRE(conn.send(std::string(1, byte)));
        std::this_thread::sleep_for(1ms);
    }
    CHECK(conn.read_reply() == "$2\r\nok\r\n");
    require_proxy_alive(stack);
}

TEST_CASE("clients sending garbage do not disturb 10 concurrent well-behaved clients",
          "[integration][protocol][concurrency]") {
    proxy_stack stack;
    std::atomic<bool> stop{false};
    std::atomic<long> good_rounds{0};
    failure_log failures;

    std::vector<std::thread> workers;
    for (int i = 0; i < 10; ++i) {
        workers.emplace_back([&, i] {
            try {
                client c(stack.proxy.port());
                auto key = "good:" + std::to_string(i);
                for (int round = 0; round < 20 || !stop; ++round) {
                    auto value = std::to_string(round);
                    auto set = c.cmd({"SET", key, value});
                    auto get = c.cmd({"GET", key});
                    if (set != "+OK" || get != "$" + value) {
                        failures.add("client " + std::to_string(i) + " round " +
                                     std::to_string(round) + ": SET -> " + set + ", GET -> " + get);
                        return;
                    }
                    ++good_rounds;
                }
            } catch (const std::exception& e) {
                failures.add("client " + std::to_string(i) + ": " + e.what());
            }
        });
    }

    // Garbage from many short-lived connections while the workers run.
    std::vector<std::string> garbage_problems;
    for (int n = 0; n < 40; ++n) {
        const auto& gc = garbage_cases()[static_cast<std::size_t>(n) % garbage_cases().size()];
        raw_conn conn(stack.proxy.port());
        conn.send(gc.bytes);
        auto got = conn.read_reply();
        bool closed = conn.wait_closed(2s);
        if (got != gc.expected || !closed)
            garbage_problems.push_back(printable(gc.bytes) + " -> " + printable(got) +
                                       (closed ? "" : " (connection left open)"));
    }
    stop = true;
    for (auto& t : workers) t.join();

    INFO(failures.summary());
    CHECK(failures.count() == 0);
    CHECK(good_rounds >= 200);
    INFO("first problem: " << (garbage_problems.empty() ? "" : garbage_problems.front()));
    CHECK(garbage_problems.empty());
    require_proxy_alive(stack);
}
