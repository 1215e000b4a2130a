// Cutting multi-key commands by slot and merging the parts' replies (upstream/cluster_merge.h),
// on the bytes Redis sends.
#include <catch2/catch.hpp>

#include "herdguard/resp/key_slot.h"
#include "herdguard/upstream/cluster_merge.h"

using namespace herdguard;

namespace {

std::vector<std::string_view> args(std::initializer_list<std::string_view> a) { return {a}; }

std::string merge(cluster_merge how, std::vector<std::string> replies, std::span<const cluster_part> parts = {},
                  std::size_t keys = 0) {
    return merge_cluster_replies(how, replies, parts, keys);
}

}  // namespace

TEST_CASE("cluster merge: keys are cut by slot, tagged keys stay together, in request order", "[cluster]") {
    REQUIRE(resp::key_slot("a") != resp::key_slot("b"));
    const auto argv = args({"MGET", "a", "{a}x", "b", "a"});
    const auto parts = split_by_slot(argv, plan_cluster_command(argv));
    REQUIRE(parts.size() == 2);
    CHECK(parts[0].slot == resp::key_slot("a"));
    CHECK(parts[0].positions == std::vector<std::size_t>{0, 1, 3});
    CHECK(parts[0].argv == args({"MGET", "a", "{a}x", "a"}));
    CHECK(parts[1].positions == std::vector<std::size_t>{2});
    CHECK(parts[1].argv == args({"MGET", "b"}));

    const auto mset = args({"MSET", "a", "1", "b", "2", "{b}c", "3"});
    const auto mparts = split_by_slot(mset, plan_cluster_command(mset));
    REQUIRE(mparts.size() == 2);
    CHECK(mparts[0].argv == args({"MSET", "a", "1"}));
    CHECK(mparts[1].argv == args({"MSET", "b", "2", "{b}c", "3"}));
    // A key without its value, or no keys: Redis names the error, on the whole command.
    const auto odd = args({"MSET", "a", "1", "b"});
    CHECK(split_by_slot(odd, plan_cluster_command(odd)).empty());
    const auto none = args({"DEL"});
    CHECK(split_by_slot(none, plan_cluster_command(none)).empty());
}

TEST_CASE("cluster merge: MGET's values go back in request order, a part's error at its keys", "[cluster]") {
    const auto argv = args({"MGET", "a", "b", "{a}2", "c"});
    const auto parts = split_by_slot(argv, plan_cluster_command(argv));
    REQUIRE(parts.size() == 3);
    const std::vector<std::string> replies{"*2\r\n$2\r\nva\r\n$-1\r\n", "-MOVED 1 127.0.0.1:1\r\n",
                                           "*1\r\n$2\r\nvc\r\n"};
    CHECK(merge(cluster_merge::values_in_order, replies, parts, 4) ==
          "*4\r\n$2\r\nva\r\n-MOVED 1 127.0.0.1:1\r\n$-1\r\n$2\r\nvc\r\n");
    // A part that answers the wrong number of values is not passed on as if it were right.
    const std::vector<std::string> short_reply{"*1\r\n$2\r\nva\r\n", "*1\r\n$1\r\nb\r\n", "*1\r\n$1\r\nc\r\n"};
    CHECK(merge(cluster_merge::values_in_order, short_reply, parts, 4).rfind("-ERR herdguard", 0) == 0);
}

TEST_CASE("cluster merge: sums, +OKs, concatenation and agreement", "[cluster]") {
    CHECK(merge(cluster_merge::sum, {":2\r\n", ":0\r\n", ":5\r\n"}) == ":7\r\n");
    CHECK(merge(cluster_merge::sum, {":2\r\n", "-WRONGTYPE x\r\n", "-ERR y\r\n"}) == "-WRONGTYPE x\r\n");
    CHECK(merge(cluster_merge::all_ok, {"+OK\r\n", "+OK\r\n"}) == "+OK\r\n");
    CHECK(merge(cluster_merge::all_ok, {"+OK\r\n", "-MOVED 3 h:1\r\n", "-ERR z\r\n"}) == "-MOVED 3 h:1\r\n");
    CHECK(merge(cluster_merge::concat, {"*1\r\n$1\r\na\r\n", "*0\r\n", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"}) ==
          "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    CHECK(merge(cluster_merge::concat, {"*0\r\n", "*0\r\n"}) == "*0\r\n");
    CHECK(merge(cluster_merge::concat, {"*0\r\n", "-ERR no\r\n"}) == "-ERR no\r\n");
    CHECK(merge(cluster_merge::same, {"$3\r\nabc\r\n", "$3\r\nabc\r\n"}) == "$3\r\nabc\r\n");
    CHECK(merge(cluster_merge::same, {"$3\r\nabc\r\n", "$3\r\nabd\r\n"}).rfind("-ERR herdguard", 0) == 0);
}

TEST_CASE("cluster merge: INFO says cluster_enabled:0, the length still right", "[cluster]") {
    const std::string body = "# Cluster\r\ncluster_enabled:1\r\n";
    const std::string reply = "$" + std::to_string(body.size()) + "\r\n" + body + "\r\n";
    const std::string out = merge(cluster_merge::info, {reply});
    CHECK(out == "$" + std::to_string(body.size()) + "\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n");
}

TEST_CASE("cluster merge: SCAN's cursor walks the masters and round-trips", "[cluster]") {
    auto pos = decode_scan_cursor("0", 3);
    REQUIRE(pos);
    CHECK(pos->index == 0);
    CHECK(pos->node_cursor == "0");
    // Master 0 says "continue at 17": the client gets 17*3+0; decoding gives master 0, cursor 17.
    auto next = rewrite_scan_reply("*2\r\n$2\r\n17\r\n*1\r\n$1\r\nk\r\n", 0, 3);
    REQUIRE(next);
    CHECK(*next == "*2\r\n$2\r\n51\r\n*1\r\n$1\r\nk\r\n");
    pos = decode_scan_cursor("51", 3);
    REQUIRE(pos);
    CHECK(pos->index == 0);
    CHECK(pos->node_cursor == "17");
    // Master 1 done: on to master 2 from its start; the last one done: "0".
    CHECK(*rewrite_scan_reply("*2\r\n$1\r\n0\r\n*0\r\n", 1, 3) == "*2\r\n$1\r\n2\r\n*0\r\n");
    pos = decode_scan_cursor("2", 3);
    REQUIRE(pos);
    CHECK(pos->index == 2);
    CHECK(pos->node_cursor == "0");
    CHECK(*rewrite_scan_reply("*2\r\n$1\r\n0\r\n*0\r\n", 2, 3) == "*2\r\n$1\r\n0\r\n*0\r\n");
    // Too large to encode, not a number, an error passed on.
    CHECK_FALSE(rewrite_scan_reply("*2\r\n$20\r\n18446744073709551615\r\n*0\r\n", 0, 3));
    CHECK_FALSE(decode_scan_cursor("abc", 3));
    CHECK_FALSE(decode_scan_cursor("184467440737095516150", 3));
    CHECK(*rewrite_scan_reply("-ERR x\r\n", 0, 3) == "-ERR x\r\n");
}
