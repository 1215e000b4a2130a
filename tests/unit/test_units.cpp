#include <catch2/catch.hpp>
#include <limits>

#include "herdguard/config/units.h"

using herdguard::duration;
using herdguard::format_duration;
using herdguard::parse_duration;
using herdguard::parse_size;

namespace {

// The error text, or "(accepted)" so a wrongly accepted input shows up in the failure message.
std::string duration_error(std::string_view text) {
    std::string why;
    if (parse_duration(text, &why)) return "(accepted)";
    return why;
}

std::string size_error(std::string_view text) {
    std::string why;
    if (parse_size(text, &why)) return "(accepted)";
    return why;
}

}  // namespace

TEST_CASE("parse_duration accepts ms, s, m and h", "[units]") {
    CHECK(parse_duration("250ms") == duration(250));
    CHECK(parse_duration("0ms") == duration(0));
    CHECK(parse_duration("2s") == duration(2000));
    CHECK(parse_duration("5m") == duration(300'000));
    CHECK(parse_duration("1h") == duration(3'600'000));
    CHECK(parse_duration("1500ms") == duration(1500));
    CHECK(parse_duration("2S") == duration(2000));
    CHECK(parse_duration("10MS") == duration(10));
}

TEST_CASE("parse_duration rejects a bare number", "[units]") {
    CHECK(duration_error("5") == "missing unit (ms, s, m, h) in \"5\"");
    CHECK(duration_error("0") == "missing unit (ms, s, m, h) in \"0\"");
}

TEST_CASE("parse_duration rejects malformed input", "[units]") {
    CHECK(duration_error("-5s") == "negative duration \"-5s\"");
    CHECK(duration_error("") == "empty duration");
    CHECK(duration_error("s") ==
          "expected a whole number followed by a unit (ms, s, m, h), got \"s\"");
    CHECK(duration_error(" 5s") ==
          "expected a whole number followed by a unit (ms, s, m, h), got \" 5s\"");
    CHECK(duration_error("+5s") ==
          "expected a whole number followed by a unit (ms, s, m, h), got \"+5s\"");
    CHECK(duration_error("1.5s") == "duration must be a whole number, got \"1.5s\"");
    CHECK(duration_error("5x") == "unknown unit \"x\" in \"5x\" (use ms, s, m, h)");
    CHECK(duration_error("5 s") == "unknown unit \" s\" in \"5 s\" (use ms, s, m, h)");
    CHECK(duration_error("5sec") == "unknown unit \"sec\" in \"5sec\" (use ms, s, m, h)");
    CHECK(duration_error("5d") == "unknown unit \"d\" in \"5d\" (use ms, s, m, h)");
}

TEST_CASE("parse_duration rejects overflow", "[units]") {
    // Larger than uint64 while reading digits.
    CHECK(duration_error("99999999999999999999ms") ==
          "duration \"99999999999999999999ms\" is too large");
    // Fits in uint64 but not once multiplied into milliseconds.
    CHECK(duration_error("9223372036854776h") == "duration \"9223372036854776h\" is too large");
    CHECK(duration_error("9223372036854775808ms") ==
          "duration \"9223372036854775808ms\" is too large");
    // The largest representable value is still accepted.
    CHECK(parse_duration("9223372036854775807ms") == duration::max());
}

TEST_CASE("parse_duration without a why pointer does not crash", "[units]") {
    CHECK_FALSE(parse_duration("5"));
    CHECK_FALSE(parse_duration("-1s"));
    CHECK_FALSE(parse_duration("99999999999999999999h"));
}

TEST_CASE("parse_size accepts bytes and powers of 1024, any case", "[units]") {
    CHECK(parse_size("0") == 0u);
    CHECK(parse_size("1024") == 1024u);
    CHECK(parse_size("512b") == 512u);
    CHECK(parse_size("512B") == 512u);
    CHECK(parse_size("16kb") == 16u * 1024);
    CHECK(parse_size("16KB") == 16u * 1024);
    CHECK(parse_size("64mb") == 64ull << 20);
    CHECK(parse_size("64Mb") == 64ull << 20);
    CHECK(parse_size("1gb") == 1ull << 30);
    CHECK(parse_size("1GB") == 1ull << 30);
    CHECK(parse_size("18446744073709551615") == std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("parse_size rejects malformed input", "[units]") {
    CHECK(size_error("") == "empty size");
    CHECK(size_error("-1") == "negative size \"-1\"");
    CHECK(size_error("kb") ==
          "expected a whole number followed by a unit (b, kb, mb, gb), got \"kb\"");
    CHECK(size_error("1.5mb") == "size must be a whole number, got \"1.5mb\"");
    // Redis reads "16k" as 16000; we refuse it rather than pick a meaning.
    CHECK(size_error("16k") == "unknown unit \"k\" in \"16k\" (use b, kb, mb, gb)");
    CHECK(size_error("1tb") == "unknown unit \"tb\" in \"1tb\" (use b, kb, mb, gb)");
    CHECK(size_error("5s") == "unknown unit \"s\" in \"5s\" (use b, kb, mb, gb)");
}

TEST_CASE("parse_size rejects overflow", "[units]") {
    CHECK(size_error("18446744073709551616") == "size \"18446744073709551616\" is too large");
    CHECK(size_error("17179869184gb") == "size \"17179869184gb\" is too large");  // 2^34 GiB = 2^64
    CHECK(parse_size("17179869183gb") == 17179869183ull << 30);
    CHECK_FALSE(parse_size("18014398509481984kb"));  // 2^54 KiB = 2^64
}

TEST_CASE("format_duration picks the largest exact unit", "[units]") {
    CHECK(format_duration(duration(1500)) == "1500ms");
    CHECK(format_duration(duration(2000)) == "2s");
    CHECK(format_duration(duration(300'000)) == "5m");
    CHECK(format_duration(duration(3'600'000)) == "1h");
    CHECK(format_duration(duration(5'400'000)) == "90m");
    CHECK(format_duration(duration(61'000)) == "61s");
    CHECK(format_duration(duration(1)) == "1ms");
    CHECK(format_duration(duration(0)) == "0s");
}

TEST_CASE("format_duration round-trips through parse_duration", "[units]") {
    const duration::rep samples[] = {
        0,      1,         999,       1000,      1001,       59'999,     60'000,
        61'000, 3'599'999, 3'600'000, 7'200'000, 86'400'000, 90'061'001, duration::max().count()};
    for (auto ms : samples) {
        INFO("ms = " << ms);
        const std::string text = format_duration(duration(ms));
        INFO("text = " << text);
        CHECK(parse_duration(text) == duration(ms));
    }
    // And the other way: canonical text survives a parse and a format unchanged.
    for (const char* text : {"250ms", "2s", "5m", "1h", "90s", "25h"}) {
        CHECK(format_duration(*parse_duration(text)) == text);
    }
}
