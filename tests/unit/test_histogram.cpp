#include <catch2/catch.hpp>

#include "herdguard/stats/histogram.h"

using namespace herdguard;
using namespace std::chrono_literals;

TEST_CASE("histogram buckets are cumulative and agree with count and sum", "[metrics]") {
    latency_histogram h;
    h.observe(300us);    // <= 0.5 ms
    h.observe(500us);    // boundary belongs to its bucket
    h.observe(7ms);      // <= 10 ms
    h.observe(30s);      // +Inf
    REQUIRE(h.count() == 4);
    std::string out;
    h.append_prometheus(out, "x_seconds", "route=\"r\"");
    REQUIRE(out.find("x_seconds_bucket{route=\"r\",le=\"0.0005\"} 2\n") != std::string::npos);
    REQUIRE(out.find("x_seconds_bucket{route=\"r\",le=\"0.005\"} 2\n") != std::string::npos);
    REQUIRE(out.find("x_seconds_bucket{route=\"r\",le=\"0.01\"} 3\n") != std::string::npos);
    REQUIRE(out.find("x_seconds_bucket{route=\"r\",le=\"10\"} 3\n") != std::string::npos);
    REQUIRE(out.find("x_seconds_bucket{route=\"r\",le=\"+Inf\"} 4\n") != std::string::npos);
    REQUIRE(out.find("x_seconds_count{route=\"r\"} 4\n") != std::string::npos);
    REQUIRE(out.find("x_seconds_sum{route=\"r\"} 30.0078\n") != std::string::npos);
}

TEST_CASE("histogram without labels", "[metrics]") {
    latency_histogram h;
    std::string out;
    h.append_prometheus(out, "y", "");
    REQUIRE(out.find("y_bucket{le=\"+Inf\"} 0\n") != std::string::npos);
    REQUIRE(out.find("y_count 0\n") != std::string::npos);
}
