#include <catch2/catch.hpp>

#include "herdguard/loader/circuit_breaker.h"

using namespace herdguard;
using namespace std::chrono_literals;

namespace {
struct fake_clock {
    circuit_breaker::clock::time_point t{std::chrono::seconds(1000)};
    circuit_breaker::now_fn fn() {
        return [this] { return t; };
    }
};

breaker_config cfg() {
    breaker_config c;
    c.window = 10s;
    c.min_calls = 5;
    c.failure_rate = 0.5;
    c.open_for = 5s;
    c.half_open_probes = 1;
    return c;
}

void fail_n(circuit_breaker& b, int n) {
    for (int i = 0; i < n; ++i) {
        auto p = b.try_acquire();
        REQUIRE(p);
        b.record(*p, false);
    }
}
}  // namespace

TEST_CASE("the breaker opens at min_calls with the failure rate reached", "[breaker]") {
    fake_clock clk;
    circuit_breaker b(cfg(), 2s, clk.fn(), [] { return 0.0; });
    fail_n(b, 4);
    REQUIRE(b.current() == circuit_breaker::state::closed);  // 4 < min_calls
    fail_n(b, 1);
    REQUIRE(b.current() == circuit_breaker::state::open);
    REQUIRE(b.trips() == 1);
    REQUIRE_FALSE(b.try_acquire());
    REQUIRE(b.rejections() == 1);
}

TEST_CASE("successes keep the failure share under the rate", "[breaker]") {
    fake_clock clk;
    circuit_breaker b(cfg(), 2s, clk.fn(), [] { return 0.0; });
    for (int i = 0; i < 6; ++i) {
        auto p = b.try_acquire();
        b.record(*p, true);
    }
    fail_n(b, 5);  // 5 of 11 failed: under 0.5
    REQUIRE(b.current() == circuit_breaker::state::closed);
    fail_n(b, 1);  // 6 of 12
    REQUIRE(b.current() == circuit_breaker::state::open);
}

TEST_CASE("old outcomes leave the window", "[breaker]") {
    fake_clock clk;
    circuit_breaker b(cfg(), 2s, clk.fn(), [] { return 0.0; });
    fail_n(b, 4);
    clk.t += 11s;  // the 4 failures are out of the window
    fail_n(b, 4);
    REQUIRE(b.current() == circuit_breaker::state::closed);
    fail_n(b, 1);
    REQUIRE(b.current() == circuit_breaker::state::open);
}

TEST_CASE("after open_for one probe goes through; its outcome decides", "[breaker]") {
    fake_clock clk;
    circuit_breaker b(cfg(), 2s, clk.fn(), [] { return 0.0; });
    fail_n(b, 5);
    clk.t += 4999ms;
    REQUIRE_FALSE(b.try_acquire());
    REQUIRE(b.current() == circuit_breaker::state::open);
    clk.t += 1ms;
    REQUIRE(b.current() == circuit_breaker::state::half_open);  // reported before any load asks
    auto probe = b.try_acquire();
    REQUIRE(probe);
    REQUIRE(probe->probe);
    REQUIRE(b.current() == circuit_breaker::state::half_open);
    REQUIRE_FALSE(b.try_acquire());  // half_open_probes = 1
    b.record(*probe, false);
    REQUIRE(b.current() == circuit_breaker::state::open);
    REQUIRE(b.trips() == 2);
    clk.t += 5s;
    probe = b.try_acquire();
    REQUIRE(probe);
    b.record(*probe, true);
    REQUIRE(b.current() == circuit_breaker::state::closed);
    REQUIRE(b.try_acquire());
}

TEST_CASE("a hung probe cannot pin the breaker half-open", "[breaker]") {
    fake_clock clk;
    circuit_breaker b(cfg(), 2s, clk.fn(), [] { return 0.0; });
    fail_n(b, 5);
    clk.t += 5s;
    auto probe = b.try_acquire();
    REQUIRE(probe);
    clk.t += 2s;  // the probe never reported
    REQUIRE_FALSE(b.try_acquire());
    REQUIRE(b.current() == circuit_breaker::state::open);
    b.record(*probe, true);  // a late report changes nothing
    REQUIRE(b.current() == circuit_breaker::state::open);
    clk.t += 5s;
    REQUIRE(b.try_acquire());
}

TEST_CASE("open time carries up to 10% jitter", "[breaker]") {
    fake_clock clk;
    circuit_breaker b(cfg(), 2s, clk.fn(), [] { return 0.99; });
    fail_n(b, 5);
    clk.t += 5400ms;
    REQUIRE_FALSE(b.try_acquire());
    clk.t += 100ms;
    REQUIRE(b.try_acquire());
}
