// Redis Cluster's key slots (resp/key_slot.h), against figures Redis 7.0's CLUSTER KEYSLOT gave
// (the integration test asks a live cluster node for many more), and the herd path's per-slot
// tags: every derived key lands in its value key's slot, whatever braces the key holds.
#include <catch2/catch.hpp>

#include <random>
#include <string>

#include "herdguard/herd/read_through.h"
#include "herdguard/resp/key_slot.h"

using namespace herdguard::resp;

TEST_CASE("key slot: CRC16/XMODEM and Redis's own figures", "[cluster]") {
    CHECK(crc16("123456789") == 0x31C3);  // the XMODEM check value
    CHECK(key_slot("foo") == 12182);
    CHECK(key_slot("bar") == 5061);
    CHECK(key_slot("hello") == 866);
    CHECK(key_slot("somekey") == 11058);
    CHECK(key_slot("foo{hash_tag}") == 2515);
    CHECK(key_slot("{user1000}.following") == 3443);
    CHECK(key_slot("") == 0);
}

TEST_CASE("key slot: the hash tag rule, tricky keys", "[cluster]") {
    CHECK(hash_tag("{user1000}.following") == "user1000");
    CHECK(key_slot("{user1000}.following") == key_slot("user1000"));
    CHECK(hash_tag("{}") == "{}");  // empty tag: the whole key
    CHECK(key_slot("{}") == 15257);
    CHECK(hash_tag("{}x{y}") == "{}x{y}");  // only the first '{' counts, and its tag is empty
    CHECK(hash_tag("{{a}}") == "{a");
    CHECK(key_slot("{{a}}") == 10276);
    CHECK(hash_tag("a{b}{c}") == "b");
    CHECK(key_slot("a{b}{c}") == 3300);
    CHECK(hash_tag("a{b") == "a{b");  // no closing brace: the whole key
    CHECK(hash_tag("a}b{c}") == "c");
    const std::string binary("\x00\xff{\x01}\x00", 6);
    CHECK(hash_tag(binary) == std::string_view("\x01", 1));
}

TEST_CASE("key slot: every slot has a short brace-free tag of its own", "[cluster]") {
    std::size_t longest = 0;
    for (std::uint32_t s = 0; s < slot_count; ++s) {
        const auto tag = tag_of_slot(static_cast<std::uint16_t>(s));
        REQUIRE(!tag.empty());
        REQUIRE(tag.find_first_of("{}") == std::string_view::npos);
        REQUIRE(key_slot(tag) == s);
        longest = std::max(longest, tag.size());
    }
    CHECK(longest <= 4);
}

TEST_CASE("key slot: derived keys share the value key's slot, over 100k random keys", "[cluster]") {
    // The names the herd engine really uses in front of a cluster (read_through.h).
    herdguard::use_cluster_key_names(true);
    struct back_to_one_redis {
        ~back_to_one_redis() { herdguard::use_cluster_key_names(false); }
    } restore;  // even when a REQUIRE below fails: other tests expect the plain names
    CHECK(herdguard::lock_key("{a}b") == "herdguard:{" + std::string(tag_of_slot(key_slot("a"))) + "}:lock:{a}b");
    std::mt19937_64 rng(20261205);
    const std::string_view awkward[] = {"{", "}", "{}", "{{", "}}", "{a}", "{{a}}", "a{", "}a{", "{}{b}", ""};
    std::uniform_int_distribution<int> len(0, 24), byte(0, 255), pick(0, 10), kind(0, 3);
    for (int i = 0; i < 100000; ++i) {
        std::string key;
        for (int n = len(rng); n > 0; --n) {
            if (kind(rng) == 0) key += awkward[pick(rng)];
            else key += static_cast<char>(byte(rng));
        }
        const auto slot = key_slot(key);
        INFO("key of " << key.size() << " bytes, slot " << slot);
        REQUIRE(key_slot(herdguard::lock_key(key)) == slot);
        REQUIRE(key_slot(herdguard::negative_key(key)) == slot);
        REQUIRE(key_slot(herdguard::failure_key(key)) == slot);
    }
}

TEST_CASE("key slot: in front of one Redis the derived keys keep their plain names", "[cluster]") {
    CHECK(herdguard::lock_key("{a}b") == "herdguard:lock:{a}b");
    CHECK(herdguard::negative_key("k") == "herdguard:neg:k");
    CHECK(herdguard::failure_key("k") == "herdguard:fail:k");
}
