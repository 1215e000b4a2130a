// The slot map from the replies a real cluster gave (tests/unit/data/README.md), and from broken
// ones: every slot has its master, replicas are known, and a bad reply says what is wrong.
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "herdguard/resp/key_slot.h"
#include "herdguard/resp/reply_value.h"
#include "herdguard/upstream/cluster_topology.h"

using namespace herdguard;

namespace {

resp::reply_value captured(const std::string& name) {
    std::ifstream in(std::string(HERDGUARD_SOURCE_DIR) + "/tests/unit/data/" + name, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    REQUIRE(!bytes.str().empty());
    return resp::decode_reply(bytes.str());
}

void check_three_masters(const cluster_map& map) {
    CHECK(map.covers_all());
    CHECK(map.masters().size() == 3);
    CHECK(map.nodes().size() == 6);
    // redis-cli --cluster create splits 16384 slots 0-5460, 5461-10922, 10923-16383 over the
    // first three addresses.
    REQUIRE(map.owner(0) != nullptr);
    CHECK(map.owner(0)->address() == "127.0.0.1:17101");
    CHECK(map.owner(5460)->address() == "127.0.0.1:17101");
    CHECK(map.owner(5461)->address() == "127.0.0.1:17102");
    CHECK(map.owner(10923)->address() == "127.0.0.1:17103");
    CHECK(map.owner(16383)->address() == "127.0.0.1:17103");
    CHECK(map.owner(resp::key_slot("foo"))->address() == "127.0.0.1:17103");  // 12182
    for (const auto* m : map.masters()) {
        CHECK(m->master);
        CHECK(m->id.size() == 40);
    }
}

}  // namespace

TEST_CASE("cluster topology: CLUSTER SHARDS of a 3-master cluster", "[cluster]") {
    std::string why;
    auto map = cluster_map::from_shards(captured("cluster_shards.resp"), "127.0.0.1", &why);
    INFO(why);
    REQUIRE(map);
    check_three_masters(*map);
    for (const auto& n : map->nodes()) CHECK(n.healthy);
}

TEST_CASE("cluster topology: CLUSTER SLOTS of the same cluster", "[cluster]") {
    std::string why;
    auto map = cluster_map::from_slots(captured("cluster_slots.resp"), "127.0.0.1", &why);
    INFO(why);
    REQUIRE(map);
    check_three_masters(*map);
}

TEST_CASE("cluster topology: unknown endpoints are the asked node; broken replies say why", "[cluster]") {
    // One shard, all slots, its master announced with endpoint "?".
    const std::string shard =
        "*1\r\n*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:16383\r\n$5\r\nnodes\r\n*1\r\n"
        "*8\r\n$2\r\nid\r\n$1\r\na\r\n$4\r\nport\r\n:7000\r\n$8\r\nendpoint\r\n$1\r\n?\r\n$4\r\nrole\r\n$6\r\nmaster\r\n";
    auto map = cluster_map::from_shards(resp::decode_reply(shard), "10.0.0.9");
    REQUIRE(map);
    CHECK(map->owner(42)->address() == "10.0.0.9:7000");

    std::string why;
    CHECK_FALSE(cluster_map::from_shards(resp::decode_reply("-ERR unknown command 'CLUSTER SHARDS'\r\n"), "h", &why));
    CHECK(why == "CLUSTER SHARDS: ERR unknown command 'CLUSTER SHARDS'");
    CHECK_FALSE(cluster_map::from_slots(resp::decode_reply("*1\r\n*3\r\n:0\r\n:99999\r\n*2\r\n$1\r\nh\r\n:1\r\n"), "h", &why));
    CHECK(why == "CLUSTER SLOTS: a slot range out of 0..16383");
    // Half the slots assigned: a map, but not a whole one.
    auto half = cluster_map::from_slots(resp::decode_reply("*1\r\n*3\r\n:0\r\n:8191\r\n*2\r\n$1\r\nh\r\n:1\r\n"), "h");
    REQUIRE(half);
    CHECK_FALSE(half->covers_all());
    CHECK(half->owner(8192) == nullptr);
}
