// Groundwork for the cluster backend (issue 13), against a live six-node cluster: herdguard's
// slot function agrees with every node's CLUSTER KEYSLOT, and the slot map read from any node
// (CLUSTER SHARDS, and CLUSTER SLOTS) names the same master for every slot.
#include <catch2/catch.hpp>

#include <random>

#include "cluster_helpers.h"
#include "herdguard/resp/key_slot.h"
#include "herdguard/resp/reply_value.h"
#include "herdguard/upstream/cluster_topology.h"

using namespace herdguard;
using namespace herdguard::test;

TEST_CASE("cluster: key slots agree with CLUSTER KEYSLOT, slot maps with every node", "[integration][cluster]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    client node(cluster.port(0));

    std::vector<std::string> keys{"", "{}", "{{a}}", "a{b}{c}", "{}x{y}", "a{b", "}{", "{user1000}.following",
                                  std::string("\x00\xff{\x01}\x00", 6)};
    std::mt19937 rng(5);
    std::uniform_int_distribution<int> len(0, 12), byte(0, 255);
    for (int i = 0; i < 300; ++i) {
        std::string k;
        for (int n = len(rng); n > 0; --n) k += static_cast<char>(i % 3 == 0 ? "{}ab"[byte(rng) % 4] : byte(rng));
        keys.push_back(k);
    }
    for (const auto& k : keys) {
        INFO("key of " << k.size() << " bytes");
        CHECK(node.cmd({"CLUSTER", "KEYSLOT", k}) == ":" + std::to_string(resp::key_slot(k)));
    }

    std::optional<cluster_map> first;
    for (std::size_t i = 0; i < cluster.size(); ++i) {
        std::string why;
        auto shards = cluster_map::from_shards(resp::decode_reply(raw_reply(cluster.port(i), {"CLUSTER", "SHARDS"})),
                                               "127.0.0.1", &why);
        INFO(why);
        REQUIRE(shards);
        CHECK(shards->covers_all());
        CHECK(shards->masters().size() == 3);
        auto slots = cluster_map::from_slots(resp::decode_reply(raw_reply(cluster.port(i), {"CLUSTER", "SLOTS"})),
                                             "127.0.0.1", &why);
        REQUIRE(slots);
        if (!first) first = shards;
        for (std::uint32_t s = 0; s < resp::slot_count; s += 97) {
            const auto slot = static_cast<std::uint16_t>(s);
            REQUIRE(shards->owner(slot) != nullptr);
            CHECK(shards->owner(slot)->address() == slots->owner(slot)->address());
            CHECK(shards->owner(slot)->address() == first->owner(slot)->address());
        }
    }
    // Each master answers for its own slots: a key routed by the map is never MOVED.
    for (int i = 0; i < 50; ++i) {
        const std::string key = "k" + std::to_string(i);
        const auto* owner = first->owner(resp::key_slot(key));
        client c(owner->port);
        CHECK(c.cmd({"SET", key, "v"}) == "+OK");
    }
}
