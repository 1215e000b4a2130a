// The herd engine without sockets, shared by its unit tests: a scripted backend stands in for
// Redis (the test answers each command the engine sends, in order), a scripted loader for the
// upstream, a hand-driven herd clock (fake_time) and scripted randomness.
#pragma once

#include <catch2/catch.hpp>

#include <deque>
#include <functional>

#include <boost/asio/io_context.hpp>

#include "herdguard/herd/herd_context.h"
#include "herdguard/herd/read_through.h"

namespace herdguard::testing {

using namespace std::chrono_literals;

// Records every command; the test answers the oldest one.
struct scripted_redis final : backend {
    struct command {
        std::vector<std::string> argv;
        reply_handler* handler;
    };
    std::deque<command> sent;
    using backend::request;
    void request(std::string_view, std::span<const std::string_view> argv, reply_handler* handler) override {
        sent.push_back({{argv.begin(), argv.end()}, handler});
    }
    // The engine sends only its own commands; a pass-through would show up here all the same.
    void pass(const passthrough& cmd, reply_handler* handler) override { request("", cmd.argv, handler); }
    // Answers the oldest command with `reply` and returns it.
    command answer(std::string_view reply) {
        REQUIRE_FALSE(sent.empty());
        command c = std::move(sent.front());
        sent.pop_front();
        c.handler->on_reply(reply);
        return c;
    }
    std::size_t count(std::string_view name) const {
        std::size_t n = 0;
        for (const auto& c : sent) n += !c.argv.empty() && c.argv[0] == name;
        return n;
    }
};

struct scripted_loader final : loader {
    int calls = 0;
    load_result next{load_result::kind::ok, "v1", {}};
    boost::asio::awaitable<load_result> load(const upstream_url&, std::string, duration, std::uint64_t) override {
        ++calls;
        co_return next;
    }
};

struct recorded final : reply_handler {
    std::vector<std::string> replies;
    void on_reply(std::string_view raw) override { replies.emplace_back(raw); }
    void on_failure(std::string_view raw) override { replies.emplace_back(raw); }
};

inline route_config test_route() {
    route_config r;
    r.name = "r";
    r.match = "k:*";
    r.upstream = "http://127.0.0.1:1/k/{1}";
    return r;
}

// The herd clock (herd_clock.h), driven by hand: time stands still until a test moves it, timers
// included. Set for one test's lifetime.
inline herd_clock::time_point fake_now;
inline herd_clock::time_point fake_clock() noexcept { return fake_now; }
struct fake_time {
    fake_time() {
        fake_now = herd_clock::real_now();
        herd_clock::source = &fake_clock;
    }
    ~fake_time() { herd_clock::source = &herd_clock::real_now; }
    fake_time(const fake_time&) = delete;
    fake_time& operator=(const fake_time&) = delete;
};

// The injected randomness (herd_context::random): a plain function, so its state is static.
inline std::uint64_t fake_draws = 0;
inline std::uint64_t fake_random() { return fake_draws++ == 0 ? 0x1111111111111111ULL : 0; }

struct engine_fixture {
    explicit engine_fixture(route_config r = test_route()) : engine({r}) {}
    boost::asio::io_context io;
    fresh_memo memo;
    scripted_loader http;
    scripted_redis redis;
    herd_context hc{io, memo, http, redis};
    herd_engine engine;
    route_runtime& route() { return *engine.find_route("k:1"); }

    void get(const std::string& key, recorded& slot) { engine.get(*engine.find_route(key), key, hc, redis, slot); }
    // Runs handlers until `done` holds, for 2 s at most; false if it never did.
    bool run_until(const std::function<bool()>& done) {
        const auto deadline = std::chrono::steady_clock::now() + 2s;
        io.restart();
        while (!done()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            io.run_one_for(5ms);
            io.restart();
        }
        return true;
    }
    // Runs handlers for `d` of real time: to show that nothing happens until the clock moves.
    void run_for(std::chrono::milliseconds d) {
        io.restart();
        io.run_for(d);
        io.restart();
    }
    // Answers the PTTL + GET pair of a read as a miss.
    void answer_read_miss() {
        CHECK(redis.answer(":-2\r\n").argv[0] == "PTTL");
        CHECK(redis.answer("$-1\r\n").argv[0] == "GET");
    }
    // A miss of `key` carried to its write-back: the read answered as a miss, ACQUIRE answered
    // `acquire` (the lease won), the load done; returns once the write-back script is sent.
    void load_to_write_back(const std::string& key, recorded& slot,
                            std::string_view acquire = "*2\r\n$3\r\nwon\r\n$4\r\nnone\r\n") {
        get(key, slot);
        answer_read_miss();
        REQUIRE(run_until([&] { return redis.count("EVAL") == 1; }));
        redis.answer(acquire);
        REQUIRE(run_until([&] { return redis.count("EVAL") == 1; }));  // loaded, writing back
    }
    std::uint64_t counter(sharded_counter route_counters::*c) { return (route().counters.*c).load(); }
};


// XFetch draws: the U that the engine's randomness yields.
inline std::uint64_t next_draw = 0;
inline std::uint64_t scripted_draw() { return next_draw; }
constexpr std::uint64_t draw_u_near_0 = ~0ULL;  // U = 2^-53: -ln(U) = 36.7, the earliest refresh
constexpr std::uint64_t draw_u_1 = 0;           // U = 1: -ln(U) = 0, never early

}  // namespace herdguard::testing
