// Faults and abuse, a Redis that dies under load and comes back: SIGKILLed under 100 clients and
// restarted on its port, every request is answered within a bound, the proxy recovers on the same
// connections, and nothing acknowledged is lost. Real redis-server (with an fsync-always AOF),
// real herdguard processes (stopped and killed by PID) and the scriptable demo upstream.
//
// Waiting: every wait is bounded (socket polls with deadlines, `eventually`, crowd collects).
#include <algorithm>
#include <atomic>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "faults_helpers.h"
#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

// ---------------------------------------------------------------------------------------------
// Redis SIGKILLed under 100 clients and restarted on its port a second later. Redis runs
// with an fsync-always AOF, so whatever it acknowledged survives the kill.
TEST_CASE("Redis killed and restarted under 100 clients: every request answered, nothing lost",
          "[integration][faults]") {
    temp_dir dir;
    redis_server redis(dir, {}, {"--appendonly", "yes", "--appendfsync", "always"});
    demo_upstream upstream(dir);
    route_options route;  // wait_timeout 3s, load_timeout 2s
    route.upstream = upstream.url();
    herdguard_options opts;
    opts.config_yaml = herdguard_config(redis.port(), route);
    herdguard_proc proxy(dir, redis.port(), opts);
    const auto port = proxy.port();

    constexpr auto command_timeout = 1000ms;  // herdguard's default redis.command_timeout
    const auto answer_bound = command_timeout + route.wait_timeout;
    constexpr std::size_t n = 100;
    crowd clients({port}, n);

    // Shared between the driver thread and this one.
    struct acked_set {
        std::string key, value;
        long long at_ms;
    };
    struct round_result {
        long long start_ms, end_ms;
        bool plain_ok;   // every SET +OK, every plain GET a value
        bool routed_ok;  // every routed GET a value
    };
    failure_log failures;
    std::vector<acked_set> acked;  // driver thread only until joined
    std::vector<round_result> rounds;
    std::map<std::string, std::size_t> reply_kinds;
    long long slowest_reply_ms = 0;
    std::atomic<bool> stop{false};
    std::atomic<long long> restarted_ms{-1};
    const auto t0 = steady::now();

    std::thread driver([&] {
        try {
            // Per client: the last key it SET, and whether that SET was acknowledged.
            std::vector<std::string> last_key(n), last_value(n);
            std::vector<bool> last_acked(n, false);
            for (long long r = 0; !stop; ++r) {
                const auto now = ms_since(t0);
                const auto restart = restarted_ms.load();
                if (now > 15'000) {
                    failures.add("driver: still running after 15 s");
                    break;
                }
                if (restart >= 0 && now >= std::max<long long>(4000, restart + 2500)) break;
                std::vector<int> kind(n);
                std::vector<std::string> keys(n), values(n);
                for (std::size_t i = 0; i < n; ++i) {
                    kind[i] = static_cast<int>((i + static_cast<std::size_t>(r)) % 3);
                    if (kind[i] == 0) {
                        keys[i] = "plain:" + std::to_string(i) + ":" + std::to_string(r);
                        values[i] = "v" + std::to_string(i) + "." + std::to_string(r);
                        clients.send(i, {"SET", keys[i], values[i]});
                    } else if (kind[i] == 1) {
                        keys[i] = last_key[i].empty() ? "plain:never" : last_key[i];
                        clients.send(i, {"GET", keys[i]});
                    } else {
                        keys[i] = "product:" + std::to_string(i % 10);
                        clients.send(i, {"GET", keys[i]});
                    }
                }
                const auto start = ms_since(t0);
                auto replies = clients.collect(answer_bound + 1s);
                round_result rr{start, ms_since(t0), true, true};
                for (std::size_t i = 0; i < n; ++i) {
                    const auto& rep = replies[i];
                    const std::string& t = rep.text;
                    const bool herd_error = starts_with(t, "-ERR herdguard:");
                    slowest_reply_ms = std::max<long long>(slowest_reply_ms, rep.latency.count());
                    std::string what;
                    if (!rep.answered) {
                        what = "no answer";
                    } else if (rep.latency > answer_bound) {
                        what = "answered after " + std::to_string(rep.latency.count()) + " ms";
                    } else if (kind[i] == 0) {
                        if (t == "+OK") {
                            acked.push_back({keys[i], values[i], ms_since(t0)});
                            last_acked[i] = true;
                        } else if (!herd_error) {
                            what = "unexpected SET reply";
                        } else {
                            last_acked[i] = false;
                        }
                        if (t != "+OK") rr.plain_ok = false;
                        last_key[i] = keys[i];
                        last_value[i] = values[i];
                    } else if (kind[i] == 1) {
                        const bool right = !last_key[i].empty() && t == "$" + last_value[i];
                        const bool lost = last_acked[i] && t == "(nil)";
                        if (!last_key[i].empty() && !right) rr.plain_ok = false;
                        if (lost)
                            what = "acknowledged write lost";
                        else if (!right && !herd_error && t != "(nil)")
                            what = "unexpected GET reply";
                    } else {
                        const bool value =
                            starts_with(t, "$value:/products/" + std::to_string(i % 10) + "#");
                        if (!value) rr.routed_ok = false;
                        if (!value && !herd_error && t != "(nil)")
                            what = "unexpected routed GET reply";
                    }
                    std::string kind_text = !rep.answered ? "(none)"
                                            : herd_error  ? t.substr(0, t.find('(') + 1) + "...)"
                                            : t[0] == '$' ? std::string("$value")
                                                          : t;
                    ++reply_kinds[std::to_string(kind[i]) + " " + kind_text];
                    if (!what.empty())
                        failures.add("round " + std::to_string(r) + " at " + std::to_string(start) +
                                     " ms, client " + std::to_string(i) + ": " + what + ": " +
                                     keys[i] + " -> " + t);
                }
                rounds.push_back(rr);
                std::this_thread::sleep_for(2ms);
            }
        } catch (const std::exception& e) {
            failures.add(std::string("driver: ") + e.what());
        }
    });

    long long killed_ms = -1;
    bool proxy_alive = true;
    try {
        std::this_thread::sleep_until(t0 + 1s);
        redis.kill9();
        killed_ms = ms_since(t0);
        std::this_thread::sleep_until(t0 + 2s);
        proxy_alive = proxy_alive && proxy.running();
        redis.restart();  // same port, same dir (the AOF); returns once it answers PING
        CHECK(std::filesystem::exists(redis.data_dir() / "appendonlydir"));
        restarted_ms = ms_since(t0);
        // Meanwhile the driver runs on; it stops 2.5 s after the restart (or at 4 s).
        while (ms_since(t0) < 16'000) {
            proxy_alive = proxy_alive && proxy.running();
            if (restarted_ms >= 0 && ms_since(t0) >= std::max<long long>(4000, restarted_ms + 2600))
                break;
            std::this_thread::sleep_for(50ms);
        }
    } catch (...) {
        stop = true;
        driver.join();
        throw;
    }
    stop = true;
    driver.join();

    std::string kinds;
    for (const auto& [k, c] : reply_kinds) kinds += "\n  " + std::to_string(c) + " x " + k;
    INFO("killed at " << killed_ms << " ms, restarted at " << restarted_ms << " ms; "
                      << rounds.size()
                      << " rounds; replies (0 SET, 1 GET, 2 routed GET):" << kinds);
    INFO(failures.summary());
    INFO("herdguard log tail:\n" << proxy.log_tail(3000));
    CHECK(proxy_alive);
    CHECK(failures.count() == 0);
    REQUIRE(restarted_ms >= 0);

    // Back within 2 s of the restart, on the same connections: from some round on, every round
    // is clean. recovered = the end of the first clean round of that tail.
    auto recovered_after = [&](bool round_result::*ok) -> long long {
        long long at = -1;
        for (auto it = rounds.rbegin(); it != rounds.rend() && it->start_ms >= restarted_ms; ++it) {
            if (!((*it).*ok)) break;
            at = it->end_ms;
        }
        return at < 0 ? -1 : at - restarted_ms;
    };
    const auto plain_back = recovered_after(&round_result::plain_ok);
    const auto routed_back = recovered_after(&round_result::routed_ok);
    WARN("redis killed at " << killed_ms << " ms, restarted at " << restarted_ms << " ms ("
                            << rounds.size() << " rounds of 100); SET/GET clean again "
                            << plain_back << " ms after the restart, routed GETs " << routed_back
                            << " ms; slowest reply " << slowest_reply_ms << " ms; " << acked.size()
                            << " acknowledged SETs"
                            << "; replies (0 SET, 1 GET, 2 routed GET):" << kinds);
    CHECK(plain_back >= 0);
    CHECK(plain_back <= 2000);
    CHECK(routed_back >= 0);
    CHECK(routed_back <= 2000);
    // The outage really happened and was seen.
    std::size_t outage_errors = 0;
    for (const auto& [k, c] : reply_kinds)
        if (k.find("-ERR herdguard:") != std::string::npos) outage_errors += c;
    CHECK(outage_errors > 0);

    // Nothing acknowledged is lost: every SET that got +OK, before the kill or after, reads back.
    std::size_t before_kill = 0;
    for (const auto& a : acked)
        if (a.at_ms < killed_ms) ++before_kill;
    INFO(acked.size() << " acknowledged SETs, " << before_kill << " of them before the kill");
    CHECK(before_kill > 0);
    client check(port, 5s);
    std::size_t lost = 0;
    std::vector<std::string> samples;
    for (std::size_t at = 0; at < acked.size(); at += 1000) {
        std::vector<std::vector<std::string>> gets;
        for (std::size_t k = at; k < std::min(acked.size(), at + 1000); ++k)
            gets.push_back({"GET", acked[k].key});
        auto got = check.pipeline(gets);
        for (std::size_t k = 0; k < got.size(); ++k) {
            const auto& a = acked[at + k];
            if (got[k] != "$" + a.value) {
                ++lost;
                if (samples.size() < 5)
                    samples.push_back(a.key + " (acked at " + std::to_string(a.at_ms) + " ms) -> " +
                                      got[k]);
            }
        }
    }
    std::string sample_text;
    for (const auto& s : samples) sample_text += "\n  " + s;
    INFO("lost:" << sample_text);
    CHECK(lost == 0);

    long long waiting = -1;
    CHECK(eventually(
        [&] {
            waiting = route_counter(port, "waiters_now");
            return waiting == 0;
        },
        2s));
    INFO("waiters_now " << waiting);
    require_running(proxy);
}
