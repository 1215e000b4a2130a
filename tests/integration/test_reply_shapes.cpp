// Every reply Redis can send passes through (issue 22): replies nested as deep as Redis nests them
// (a script's self-referencing table, nests of 1 to 10,000 levels), RESP3 pushes that a command
// sends before its reply, empty and null aggregates, byte for byte against Redis, on a shared
// connection, while other clients pipeline on the same worker and none of them fails. And a reply
// herdguard truly cannot frame (corrupt bytes, made by a fault proxy) fails only the commands in
// flight on its connection, which is replaced: the other clients never get a wrong reply.
#include <atomic>
#include <thread>

#include "fault_proxy.h"
#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {
herdguard_options one_worker() {
    herdguard_options o;
    o.threads = 1;  // every client on the worker whose shared connection carries the deep replies
    return o;
}

// Clients pipelining SET/GET pairs of their own keys until stopped, each reply checked: a GET
// must return what its client set. `wrong` counts any other reply; `errors` herdguard's errors,
// allowed only where `errors_allowed`.
class pipeliners {
  public:
    pipeliners(std::uint16_t port, int clients) {
        for (int t = 0; t < clients; ++t) {
            threads_.emplace_back([this, port, t] {
                client c(port, 5s);
                for (int round = 0; !stop_ && round < 100000; ++round) {
                    std::vector<std::vector<std::string>> cmds;
                    for (int i = 0; i < 20; ++i) {
                        const std::string k = "pl:" + std::to_string(t) + ":" + std::to_string(i);
                        cmds.push_back({"SET", k, "v" + std::to_string(round)});
                        cmds.push_back({"GET", k});
                    }
                    const auto replies = c.pipeline(cmds);
                    for (std::size_t i = 0; i < replies.size(); ++i) {
                        const std::string want = i % 2 == 0 ? "+OK" : "$v" + std::to_string(round);
                        if (replies[i] == want) continue;
                        if (replies[i].rfind("-ERR herdguard: redis unavailable", 0) == 0) {
                            ++errors_;
                            continue;
                        }
                        if (++wrong_ == 1) {
                            std::lock_guard<std::mutex> lock(mutex_);
                            first_wrong_ = replies[i] + " (wanted " + want + ")";
                        }
                    }
                    ++rounds_;
                    if (!c.ok()) return;
                }
            });
        }
    }
    ~pipeliners() { stop(); }
    void stop() {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    long rounds() const { return rounds_; }
    long errors() const { return errors_; }
    long wrong() const { return wrong_; }
    std::string first_wrong() {
        std::lock_guard<std::mutex> lock(mutex_);
        return first_wrong_;
    }

  private:
    std::atomic<bool> stop_{false};
    std::atomic<long> rounds_{0}, errors_{0}, wrong_{0};
    std::mutex mutex_;
    std::string first_wrong_;
    std::vector<std::thread> threads_;
};

std::string nest(int levels) {
    return "local t = 'leaf'; for i = 1, " + std::to_string(levels) + " do t = {t} end; return t";
}

}  // namespace

TEST_CASE("replies nested as deep as Redis nests them pass through byte for byte, and the shared connection stays",
          "[integration][reply_shapes]") {
    temp_dir dir;
    redis_server redis(dir, "", {"--enable-debug-command", "yes"});
    herdguard_proc proxy(dir, redis.port(), one_worker());

    pipeliners others(proxy.port(), 3);
    const std::vector<std::vector<std::string>> scripts = {
        {"EVAL", "local a = {}; local b = {a}; a[1] = b; return a", "0"},  // Redis stops at Lua's stack limit
        {"EVAL", nest(1), "0"},
        {"EVAL", nest(100), "0"},
        {"EVAL", nest(1000), "0"},
        {"EVAL", nest(10000), "0"},
        // Empty and null aggregates, and RESP3's own empty ones.
        {"EVAL", "return {}", "0"},
        {"EVAL", "return {{}, {{}}, false, {1, {}}}", "0"},
        {"EVAL", "redis.setresp(3); return {map = {}}", "0"},
        {"EVAL", "redis.setresp(3); return {set = {}}", "0"},
        {"EVAL", "redis.setresp(3); return {map = {a = {map = {b = {set = {x = true}}}}}}", "0"},
        {"EVAL", "redis.setresp(3); return {big_number = '123456789012345678901234567890'}", "0"},
        {"EVAL", "redis.setresp(3); return {verbatim_string = {format = 'txt', string = 'hi'}}", "0"},
        {"EVAL", "redis.setresp(3); return {double = 0.5}", "0"},
        {"EVAL", "redis.setresp(3); return redis.call('DEBUG', 'PROTOCOL', 'attrib')", "0"},
        {"DEBUG", "PROTOCOL", "attrib"},
        {"DEBUG", "PROTOCOL", "bignum"},
        {"DEBUG", "PROTOCOL", "verbatim"},
        // RESP3: a push the command sends before its reply, on a shared connection.
        {"DEBUG", "PROTOCOL", "push"},
        {"DEBUG", "PROTOCOL", "null"},
        {"DEBUG", "PROTOCOL", "map"},
        {"DEBUG", "PROTOCOL", "set"},
        // Last: it opens the client's private connection, where the rest would then go.
        {"BLPOP", "nolist", "0.01"},  // a null array in RESP2, a null in RESP3
    };
    for (const int protocol : {2, 3}) {
        raw_conn direct(redis.port());
        raw_conn through(proxy.port());
        if (protocol == 3) {
            REQUIRE(direct.ask({"HELLO", "3"}).rfind("%", 0) == 0);
            REQUIRE(through.ask({"HELLO", "3"}).rfind("%", 0) == 0);
        }
        for (const auto& cmd : scripts) {
            INFO("RESP" << protocol << ": " << cmd[0] << " " << cmd[1].substr(0, 80));
            const std::string want = direct.ask(cmd);
            REQUIRE_FALSE(want.empty());
            const std::string got = through.ask(cmd);
            CHECK(got.size() == want.size());
            CHECK(got == want);
            // A push before the reply comes with it: read what may follow on both sides too.
            if (cmd[2] == "push" && protocol == 3) {
                const std::string want_after = direct.read_reply(5s);
                CHECK(through.read_reply(5s) == want_after);
            }
        }
    }
    CHECK(others.rounds() > 0);
    others.stop();
    CHECK(others.wrong() == 0);
    CHECK(others.errors() == 0);
    INFO("first wrong reply: " << others.first_wrong());
    CHECK(herdguard_counter(proxy.port(), "redis_bad_replies") == 0);
    CHECK(herdguard_counter(proxy.port(), "redis_unavailable_replies") == 0);
}

TEST_CASE("a reply that cannot be framed fails only what was in flight on its connection, which is replaced",
          "[integration][reply_shapes]") {
    temp_dir dir;
    redis_server redis(dir);
    fault_proxy faults(redis.port());
    herdguard_proc proxy(dir, faults.port(), one_worker());
    client direct(redis.port());
    REQUIRE(direct.cmd({"SET", "poison", "CORRUPT-ME"}) == "+OK");
    faults.corrupt("$10\r\nCORRUPT-ME\r\n", '?');

    pipeliners others(proxy.port(), 3);
    REQUIRE(eventually([&] { return others.rounds() >= 30; }, 10s));
    client victim(proxy.port(), 5s);
    const std::string failed = victim.cmd({"GET", "poison"});
    CHECK(failed.rfind("-ERR herdguard: redis unavailable (bad reply from redis: unexpected reply type byte '?')", 0) == 0);
    CHECK(faults.corrupted() == 1);
    // The connection was replaced: the same worker serves again.
    REQUIRE(eventually([&] { return victim.cmd({"SET", "after", "1"}) == "+OK"; }, 5s));
    const long rounds_after = others.rounds();
    REQUIRE(eventually([&] { return others.rounds() >= rounds_after + 30; }, 10s));
    others.stop();
    INFO("first wrong reply: " << others.first_wrong());
    CHECK(others.wrong() == 0);  // errors for the commands in flight, never another client's reply
    CHECK(herdguard_counter(proxy.port(), "redis_bad_replies") == 1);
    // Logged once, as the connection's loss.
    const std::string log = proxy.log_tail(1 << 20);
    std::size_t lines = 0;
    for (auto at = log.find("bad reply from redis"); at != std::string::npos; at = log.find("bad reply from redis", at + 1))
        ++lines;
    CHECK(lines == 1);
}
