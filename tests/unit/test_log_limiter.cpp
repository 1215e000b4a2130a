#include <catch2/catch.hpp>

#include <thread>

#include "herdguard/util/log_limiter.h"

using namespace herdguard;

TEST_CASE("the log limiter lets one line through per interval and counts the rest", "[log]") {
    log_limiter limiter(std::chrono::hours(1));  // nothing expires during the test
    std::uint64_t suppressed = 99;
    REQUIRE(limiter.allow(suppressed));
    REQUIRE(suppressed == 0);
    for (int i = 0; i < 1000; ++i) REQUIRE_FALSE(limiter.allow(suppressed));
}

TEST_CASE("after the interval the next line reports what was suppressed", "[log]") {
    log_limiter limiter(std::chrono::milliseconds(0));  // every call may log
    std::uint64_t suppressed = 0;
    REQUIRE(limiter.allow(suppressed));
    REQUIRE(limiter.allow(suppressed));
    REQUIRE(suppressed == 0);
}

TEST_CASE("concurrent callers: exactly one line per interval", "[log]") {
    log_limiter limiter(std::chrono::hours(1));
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t)
        threads.emplace_back([&] {
            std::uint64_t s = 0;
            for (int i = 0; i < 10000; ++i)
                if (limiter.allow(s)) allowed.fetch_add(1);
        });
    for (auto& t : threads) t.join();
    REQUIRE(allowed.load() == 1);
}
