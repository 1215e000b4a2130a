// Hot-key detection (stats/hot_keys.h): Space-Saving's guarantees on skewed and adversarial
// streams, the sampler, and the board's merge of workers into reads per second.
#include <catch2/catch.hpp>

#include <map>
#include <random>
#include <string>

#include "herdguard/stats/hot_keys.h"

using namespace herdguard;

TEST_CASE("space-saving: exact while the keys fit, then bounded error and every heavy hitter kept", "[hotkeys]") {
    space_saving s(4);
    for (int i = 0; i < 5; ++i) s.add("a");
    for (int i = 0; i < 3; ++i) s.add("b");
    s.add("c");
    auto top = s.top(10);
    REQUIRE(top.size() == 3);
    CHECK(top[0].key == "a");
    CHECK(top[0].count == 5);
    CHECK(top[0].error == 0);
    CHECK(top[1].key == "b");

    // A skewed stream (Zipf-like) over 10,000 keys into 64 counters: the keys read more than
    // N / 64 times are all there, and count - error <= true <= count for each.
    space_saving z(64);
    std::map<std::string, std::uint64_t> truth;
    std::mt19937_64 rng(42);
    std::uint64_t n = 0;
    for (int i = 0; i < 200'000; ++i) {
        // key k with probability ~ 1/k: rank from a log-uniform draw
        const double u = std::uniform_real_distribution<double>(0, std::log(10'000.0))(rng);
        const std::string key = "k" + std::to_string(static_cast<int>(std::exp(u)));
        z.add(key);
        ++truth[key];
        ++n;
    }
    CHECK(z.size() == 64);
    const auto found = z.top(64);
    for (const auto& e : found) {
        INFO(e.key);
        CHECK(e.count - e.error <= truth[e.key]);
        CHECK(truth[e.key] <= e.count);
    }
    for (const auto& [key, count] : truth) {
        if (count <= n / 64) continue;
        INFO(key << " read " << count << " times");
        CHECK(std::any_of(found.begin(), found.end(), [&](const hot_key& e) { return e.key == key; }));
    }
    CHECK(found[0].key == "k1");

    // A scan of a million distinct keys cannot grow it.
    for (int i = 0; i < 100'000; ++i) z.add("scan:" + std::to_string(i));
    CHECK(z.size() == 64);
}

TEST_CASE("sampler: about one command in sample_every, reads only", "[hotkeys]") {
    space_saving lookup(2);  // a hit is found by string_view, a miss copies the key once
    lookup.add(std::string_view("x"));
    lookup.add(std::string_view("x"));
    CHECK(lookup.top(1).at(0).count == 2);
    hot_key_sampler s;
    int sampled = 0;
    const std::vector<std::string_view> get{"GET", "hot"};
    for (int i = 0; i < 160'000; ++i) {
        if (s.tick()) {
            ++sampled;
            s.sample(get);
        }
    }
    // 160,000 / sample_every expected; the countdown's spread puts 10% beyond 8 standard deviations.
    const int expected = 160'000 / static_cast<int>(hot_key_sampler::sample_every);
    CHECK(sampled > expected * 9 / 10);
    CHECK(sampled < expected * 11 / 10);
    auto top = s.summary().top(1);
    REQUIRE(top.size() == 1);
    CHECK(top[0].count == static_cast<std::uint64_t>(sampled));
    s.summary().clear();
    s.sample({"SET", "k", "v"});
    s.sample({"mget", "a", "b"});
    CHECK(s.summary().size() == 2);
}

TEST_CASE("board: the workers' seconds merge into estimated reads per second", "[hotkeys]") {
    hot_key_board board(2);
    board.publish(0, {{"a", 10, 0}, {"b", 1, 0}});
    board.publish(1, {{"a", 5, 0}, {"c", 7, 0}});
    auto top = board.top(2);
    REQUIRE(top.size() == 2);
    CHECK(top[0].key == "a");
    CHECK(top[0].reads_per_second == 15.0 * hot_key_sampler::sample_every);
    CHECK(top[1].key == "c");
    board.publish(0, {});  // the next second replaces the last
    CHECK(board.top(5).size() == 2);
}
