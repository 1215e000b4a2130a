// Cutting multi-key commands by slot and merging the parts' replies (upstream/cluster_merge.h),
// on the bytes Redis sends.
#include <catch2/catch.hpp>

#include <set>

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

TEST_CASE("cluster merge: a split of thousands of keys gives each slot one part, in first-seen order", "[cluster]") {
    std::vector<std::string> keys;
    for (int i = 0; i < 3000; ++i) keys.push_back("k" + std::to_string(i));
    std::vector<std::string_view> argv{"DEL"};
    argv.insert(argv.end(), keys.begin(), keys.end());
    const auto parts = split_by_slot(argv, plan_cluster_command(argv));

    std::set<std::uint16_t> slots;
    std::vector<std::uint16_t> first_seen;
    for (const auto& k : keys)
        if (slots.insert(resp::key_slot(k)).second) first_seen.push_back(resp::key_slot(k));
    REQUIRE(parts.size() == first_seen.size());
    std::size_t keys_seen = 0;
    for (std::size_t p = 0; p < parts.size(); ++p) {
        CHECK(parts[p].slot == first_seen[p]);
        REQUIRE(parts[p].argv.size() == parts[p].positions.size() + 1);
        for (std::size_t i = 0; i < parts[p].positions.size(); ++i) {
            CHECK(parts[p].argv[i + 1] == keys[parts[p].positions[i]]);
            CHECK(resp::key_slot(parts[p].argv[i + 1]) == parts[p].slot);
        }
        keys_seen += parts[p].positions.size();
    }
    CHECK(keys_seen == keys.size());
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
    // A part with no reply is not turned into nils.
    const std::vector<std::string> missing{"*2\r\n$2\r\nva\r\n$-1\r\n", "*1\r\n$1\r\nb\r\n"};
    CHECK(merge(cluster_merge::values_in_order, missing, parts, 4).rfind("-ERR herdguard", 0) == 0);
    // A count far beyond the reply's bytes is refused, not reserved.
    const std::vector<std::string> huge{"*4611686018427387903\r\n", "*1\r\n$1\r\nb\r\n", "*1\r\n$1\r\nc\r\n"};
    CHECK(merge(cluster_merge::values_in_order, huge, parts, 4).rfind("-ERR herdguard", 0) == 0);
}

TEST_CASE("cluster merge: sums, +OKs, concatenation and agreement", "[cluster]") {
    CHECK(merge(cluster_merge::sum, {":2\r\n", ":0\r\n", ":5\r\n"}) == ":7\r\n");
    CHECK(merge(cluster_merge::sum, {":2\r\n", "-WRONGTYPE x\r\n", "-ERR y\r\n"}) == "-WRONGTYPE x\r\n");
    CHECK(merge(cluster_merge::all_ok, {"+OK\r\n", "+OK\r\n"}) == "+OK\r\n");
    CHECK(merge(cluster_merge::all_ok, {"+OK\r\n", "-MOVED 3 h:1\r\n", "-ERR z\r\n"}) == "-MOVED 3 h:1\r\n");
    CHECK(merge(cluster_merge::any_ok, {"-NOTBUSY No scripts in execution right now.\r\n", "+OK\r\n"}) == "+OK\r\n");
    CHECK(merge(cluster_merge::any_ok, {"-NOTBUSY a\r\n", "-NOTBUSY b\r\n"}) == "-NOTBUSY a\r\n");
    CHECK(merge(cluster_merge::concat, {"*1\r\n$1\r\na\r\n", "*0\r\n", "*2\r\n$1\r\nb\r\n$1\r\nc\r\n"}) ==
          "*3\r\n$1\r\na\r\n$1\r\nb\r\n$1\r\nc\r\n");
    CHECK(merge(cluster_merge::concat, {"*0\r\n", "*0\r\n"}) == "*0\r\n");
    CHECK(merge(cluster_merge::concat, {"*0\r\n", "-ERR no\r\n"}) == "-ERR no\r\n");
    CHECK(merge(cluster_merge::concat, {"~1\r\n$1\r\na\r\n", "~1\r\n$1\r\nb\r\n"}) == "~2\r\n$1\r\na\r\n$1\r\nb\r\n");
    CHECK(merge(cluster_merge::same, {"$3\r\nabc\r\n", "$3\r\nabc\r\n"}) == "$3\r\nabc\r\n");
    CHECK(merge(cluster_merge::same, {"$3\r\nabc\r\n", "$3\r\nabd\r\n"}).rfind("-ERR herdguard", 0) == 0);
}

TEST_CASE("cluster merge: INFO says cluster_enabled:0, the length still right", "[cluster]") {
    const std::string body = "# Cluster\r\ncluster_enabled:1\r\n";
    const std::string reply = "$" + std::to_string(body.size()) + "\r\n" + body + "\r\n";
    const std::string out = merge(cluster_merge::info, {reply});
    CHECK(out == "$" + std::to_string(body.size()) + "\r\n# Cluster\r\ncluster_enabled:0\r\n\r\n");
    // The header's length is the new body's.
    const auto header_end = out.find("\r\n");
    CHECK(std::stoul(out.substr(1, header_end - 1)) == out.size() - header_end - 4);
    // RESP3's verbatim string.
    const std::string text = "txt:cluster_enabled:1\r\n";
    const std::string verbatim = "=" + std::to_string(text.size()) + "\r\n" + text + "\r\n";
    CHECK(merge(cluster_merge::info, {verbatim}) ==
          "=" + std::to_string(text.size()) + "\r\ntxt:cluster_enabled:0\r\n\r\n");
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
    CHECK_FALSE(decode_scan_cursor("-1", 3));
    CHECK_FALSE(decode_scan_cursor("", 3));
    // The largest cursor still decodes: master 0, node cursor (2^64-1)/3.
    pos = decode_scan_cursor("18446744073709551615", 3);
    REQUIRE(pos);
    CHECK(pos->index == 0);
    CHECK(pos->node_cursor == "6148914691236517205");
    CHECK(*rewrite_scan_reply("*2\r\n$19\r\n6148914691236517205\r\n*0\r\n", 0, 3) ==
          "*2\r\n$20\r\n18446744073709551615\r\n*0\r\n");
    // Not SCAN's shape: keys not an array, a cursor not a number, one element.
    CHECK_FALSE(rewrite_scan_reply("*2\r\n$1\r\n0\r\n$1\r\nk\r\n", 0, 3));
    CHECK_FALSE(rewrite_scan_reply("*2\r\n$1\r\nx\r\n*0\r\n", 0, 3));
    CHECK_FALSE(rewrite_scan_reply("*1\r\n$1\r\n0\r\n", 0, 3));
}
