#include <catch2/catch.hpp>

#include "herdguard/util/constant_time.h"

using herdguard::constant_time_equals;

TEST_CASE("constant-time comparison is a correct equality", "[auth]") {
    REQUIRE(constant_time_equals("secret", "secret"));
    REQUIRE(constant_time_equals("", ""));
    REQUIRE_FALSE(constant_time_equals("secret", "secreT"));
    REQUIRE_FALSE(constant_time_equals("secret", "secret2"));
    REQUIRE_FALSE(constant_time_equals("secret2", "secret"));
    REQUIRE_FALSE(constant_time_equals("", "x"));
    REQUIRE_FALSE(constant_time_equals(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
    REQUIRE_FALSE(constant_time_equals(std::string_view("ab\0", 3), "ab"));  // padding is not equality
}
