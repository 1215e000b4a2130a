// A cluster-unaware client in front of a real six-node cluster (issue 13): every command family's
// rule (upstream/cluster_plan.h) carried out through herdguard, compared with what the cluster
// holds when asked node by node; and the single-Redis pass-through suite (passthrough_suite.h),
// reply for reply against the cluster's own answers.
#include <catch2/catch.hpp>

#include <set>
#include <thread>

#include "cluster_helpers.h"
#include "passthrough_suite.h"

using namespace herdguard;
using namespace herdguard::test;

namespace {

// Three keys on three different masters, and two that share a slot through a hash tag.
struct spread_keys {
    std::vector<std::string> one_per_master;
    explicit spread_keys(const redis_cluster& cluster) {
        for (auto& keys : keys_per_master(cluster.port(0), "k:", 1)) one_per_master.push_back(keys.front());
    }
};

std::string direct_get(const redis_cluster& cluster, const std::string& key) {
    client c(owner_port(cluster.port(0), key));
    return c.cmd({"GET", key});
}

}  // namespace

TEST_CASE("cluster: keys reach their owners; multi-key and keyless commands are split and merged",
          "[integration][cluster]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    auto proxy = cluster_proxy(dir, cluster);
    client c(proxy->port());
    const spread_keys k(cluster);
    REQUIRE(k.one_per_master.size() == 3);
    const auto& a = k.one_per_master[0];
    const auto& b = k.one_per_master[1];
    const auto& d = k.one_per_master[2];

    // Each key is written where the cluster says it lives.
    for (const auto& key : k.one_per_master) CHECK(c.cmd({"SET", key, "v-" + key}) == "+OK");
    for (const auto& key : k.one_per_master) CHECK(direct_get(cluster, key) == "$v-" + key);

    // MGET across masters, in request order, with a missing key.
    CHECK(c.cmd({"MGET", d, "missing", a, b}) == "*[$v-" + d + ", (nil), $v-" + a + ", $v-" + b + "]");
    // MSET across masters, then EXISTS / TOUCH / DEL / UNLINK summed.
    CHECK(c.cmd({"MSET", a, "1", b, "2", d, "3"}) == "+OK");
    CHECK(c.cmd({"MGET", a, b, d}) == "*[$1, $2, $3]");
    CHECK(c.cmd({"EXISTS", a, b, d, "missing", a}) == ":4");
    CHECK(c.cmd({"TOUCH", a, b}) == ":2");
    CHECK(c.cmd({"DEL", a, "missing", b}) == ":2");
    CHECK(c.cmd({"UNLINK", d}) == ":1");
    CHECK(c.cmd({"MGET", a, b, d}) == "*[(nil), (nil), (nil)]");
    // A wrong type inside MGET is nil, as MGET says; the other keys are unaffected.
    CHECK(c.cmd({"LPUSH", b, "x"}) == ":1");
    CHECK(c.cmd({"SET", a, "va"}) == "+OK");
    CHECK(c.cmd({"MGET", a, b}) == "*[$va, (nil)]");

    // Other multi-key commands across slots: Redis's own CROSSSLOT, unchanged.
    const std::string crossslot = c.cmd({"SUNION", a, d});
    CHECK(crossslot.rfind("-CROSSSLOT", 0) == 0);
    // Keys that share a tag share a slot: one node, no error.
    CHECK(c.cmd({"SADD", "{t}s1", "x"}) == ":1");
    CHECK(c.cmd({"SADD", "{t}s2", "y"}) == ":1");
    CHECK(c.cmd({"SUNION", "{t}s1", "{t}s2"}).find("$x") != std::string::npos);

    // Keyless: DBSIZE sums every master; KEYS concatenates; SCAN walks them all.
    client direct0(cluster.port(0));
    CHECK(c.cmd({"FLUSHALL"}) == "+OK");
    std::set<std::string> written;
    for (int i = 0; i < 60; ++i) {
        const std::string key = "scan:" + std::to_string(i);
        REQUIRE(c.cmd({"SET", key, "1"}) == "+OK");
        written.insert(key);
    }
    CHECK(c.cmd({"DBSIZE"}) == ":60");
    const auto keys = c.cmd_reply({"KEYS", "scan:*"});
    CHECK(keys.elements.size() == 60);
    std::set<std::string> scanned;
    std::string cursor = "0";
    int rounds = 0;
    do {
        const auto r = c.cmd_reply({"SCAN", cursor, "COUNT", "7"});
        REQUIRE(r.elements.size() == 2);
        cursor = r.elements[0].str;
        for (const auto& e : r.elements[1].elements) scanned.insert(e.str);
    } while (cursor != "0" && ++rounds < 1000);
    CHECK(scanned == written);
    CHECK(c.cmd({"SCAN", "not-a-number"}).rfind("-ERR invalid cursor", 0) == 0);

    // SCRIPT LOAD reaches every master, so EVALSHA works for keys on any of them.
    const std::string sha = c.cmd_reply({"SCRIPT", "LOAD", "return redis.call('GET', KEYS[1])"}).str;
    REQUIRE(sha.size() == 40);
    for (const auto& key : k.one_per_master) {
        REQUIRE(c.cmd({"SET", key, "s-" + key}) == "+OK");
        CHECK(c.cmd({"EVALSHA", sha, "1", key}) == "$s-" + key);
    }

    // The app sees one endpoint: INFO says cluster_enabled:0; SELECT 0 works, others do not.
    CHECK(c.cmd({"INFO", "cluster"}).find("cluster_enabled:0") != std::string::npos);
    CHECK(c.cmd({"SELECT", "0"}) == "+OK");
    CHECK(c.cmd({"SELECT", "1"}) == "-ERR SELECT is not allowed in cluster mode");
    CHECK(c.cmd({"PING"}) == "+PONG");

    // Ready once the map is known; the counters of the cluster path reach /metrics.
    CHECK(http_get(proxy->admin_port(), "/readyz").status == 200);
    const auto metrics = http_get(proxy->admin_port(), "/metrics").body;
    CHECK(metrics.find("herdguard_cluster_split_commands") != std::string::npos);
    CHECK(metrics.find("\nherdguard_cluster_masters 3\n") != std::string::npos);
    CHECK(metrics.find("\nherdguard_cluster_map_error 0\n") != std::string::npos);
    // INFO shows the map herdguard routes by: known, three masters, the last lookup fine.
    const auto fields = info_fields(c.cmd_reply({"INFO", "herdguard"}).str);
    CHECK(std::stoll(fields.at("cluster_map_version")) >= 1);
    CHECK(std::stoll(fields.at("cluster_map_refreshes")) >= std::stoll(fields.at("cluster_map_version")));
    CHECK(fields.at("cluster_masters") == "3");
    CHECK(fields.at("cluster_map_last_error").empty());
    CHECK(c.cmd({"HERDGUARD", "CONFIG"}).find("redis.cluster.seeds") != std::string::npos);
}

TEST_CASE("cluster: a pipeline across masters keeps its order", "[integration][cluster]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    auto proxy = cluster_proxy(dir, cluster);
    const auto per_master = keys_per_master(cluster.port(0), "p:", 20);
    client c(proxy->port(), 5s);
    std::vector<std::vector<std::string>> commands;
    std::vector<std::string> expected;
    for (std::size_t i = 0; i < 20; ++i)
        for (const auto& keys : per_master) {
            commands.push_back({"INCR", keys[i]});
            expected.push_back(":1");
            commands.push_back({"APPEND", keys[i], "x"});
            expected.push_back(":2");
            commands.push_back({"GET", keys[i]});
            expected.push_back("$1x");
        }
    CHECK(c.pipeline(commands) == expected);
}

TEST_CASE("cluster: transactions, WATCH, blocking commands and pub/sub on the right node",
          "[integration][cluster]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    auto proxy = cluster_proxy(dir, cluster);
    const auto per_master = keys_per_master(cluster.port(0), "t:", 2);
    const auto& a = per_master[0][0];
    const auto& b = per_master[1][0];

    client c(proxy->port());
    // MULTI before any key: held until the first key names the node.
    for (int round = 0; round < 5; ++round) {
        CHECK(c.cmd({"MULTI"}) == "+OK");
        CHECK(c.cmd({"INCR", a}) == "+QUEUED");
        CHECK(c.cmd({"INCR", a}) == "+QUEUED");
        CHECK(c.cmd({"EXEC"}) == "*[:" + std::to_string(2 * round + 1) + ", :" + std::to_string(2 * round + 2) + "]");
        // Between transactions, the client's commands go anywhere again.
        CHECK(c.cmd({"SET", b, "after"}) == "+OK");
        CHECK(c.cmd({"GET", b}) == "$after");
    }
    // Pooled: five transactions, not five connections.
    const auto counters = info_fields(c.cmd_reply({"INFO", "herdguard"}).str);
    CHECK(std::stoll(counters.at("cluster_private_reused")) >= 3);

    // A transaction on another node works the same.
    CHECK(c.cmd({"MULTI"}) == "+OK");
    CHECK(c.cmd({"SET", b, "tx"}) == "+QUEUED");
    CHECK(c.cmd({"EXEC"}) == "*[+OK]");
    // A key of another slot inside a transaction: CROSSSLOT, as a cluster says.
    CHECK(c.cmd({"MULTI"}) == "+OK");
    CHECK(c.cmd({"GET", a}) == "+QUEUED");
    CHECK(c.cmd({"GET", b}).rfind("-CROSSSLOT", 0) == 0);
    CHECK(c.cmd({"EXEC"}).rfind("-EXECABORT", 0) == 0);

    // WATCH: a write by another client aborts the transaction.
    client other(proxy->port());
    CHECK(c.cmd({"WATCH", a}) == "+OK");
    CHECK(other.cmd({"SET", a, "changed"}) == "+OK");
    CHECK(c.cmd({"MULTI"}) == "+OK");
    CHECK(c.cmd({"SET", a, "mine"}) == "+QUEUED");
    CHECK(c.cmd({"EXEC"}) == "(nil)");
    CHECK(c.cmd({"GET", a}) == "$changed");

    // EXEC without MULTI is Redis's error and leaves the WATCH in place.
    CHECK(c.cmd({"WATCH", a}) == "+OK");
    CHECK(c.cmd({"EXEC"}) == "-ERR EXEC without MULTI");
    CHECK(other.cmd({"SET", a, "changed again"}) == "+OK");
    CHECK(c.cmd({"MULTI"}) == "+OK");
    CHECK(c.cmd({"SET", a, "mine"}) == "+QUEUED");
    CHECK(c.cmd({"EXEC"}) == "(nil)");

    // Blocking commands on two masters, pipelined: each goes to its own list's owner.
    CHECK(other.cmd({"RPUSH", a + ":l", "x"}) == ":1");
    CHECK(other.cmd({"RPUSH", b + ":l", "y"}) == ":1");
    CHECK(c.pipeline({{"BLPOP", a + ":l", "1"}, {"BLPOP", b + ":l", "1"}}) ==
          std::vector<std::string>{"*[$" + a + ":l, $x]", "*[$" + b + ":l, $y]"});
    // The client's name is its own, whichever node connection it is on.
    CHECK(c.cmd({"CLIENT", "SETNAME", "app-1"}) == "+OK");
    CHECK(c.cmd({"CLIENT", "GETNAME"}) == "$app-1");

    // BLPOP waits on the list's owner and is woken by a push through another client.
    client blocked(proxy->port(), 5s);
    blocked.append({"BLPOP", b + ":list", "5"});
    REQUIRE(blocked.flush());
    REQUIRE(eventually(
        [&] {
            client owner(owner_port(cluster.port(0), b + ":list"));
            return owner.cmd({"INFO", "clients"}).find("blocked_clients:1") != std::string::npos;
        },
        3s));
    CHECK(other.cmd({"RPUSH", b + ":list", "woken"}) == ":1");
    CHECK(blocked.get_reply() == "*[$" + b + ":list, $woken]");
    CHECK(blocked.cmd({"GET", a}) == "$changed again");  // and then on as before

    // SUBSCRIBE and PUBLISH (broadcast across the cluster) meet whatever nodes they land on.
    client sub(proxy->port(), 3s);
    CHECK(sub.cmd({"SUBSCRIBE", "news"}) == "*[$subscribe, $news, :1]");
    REQUIRE(eventually([&] { return other.cmd({"PUBLISH", "news", "hello"}) != ":0"; }, 3s));
    CHECK(sub.get_reply() == "*[$message, $news, $hello]");

    // SSUBSCRIBE goes to the shard channel's owner; SPUBLISH through the proxy reaches it.
    client ssub(proxy->port(), 3s);
    CHECK(ssub.cmd({"SSUBSCRIBE", b}) == "*[$ssubscribe, $" + b + ", :1]");
    CHECK(other.cmd({"SPUBLISH", b, "sharded"}) == ":1");
    CHECK(ssub.get_reply() == "*[$smessage, $" + b + ", $sharded]");
}

// The pass-through suite of the single-Redis tests (passthrough_suite.h), through herdguard in
// front of the cluster. The reference is the cluster itself: every direct key ("{dx}:...") is
// in one slot, so the master owning that slot, asked directly, answers as the cluster does.
TEST_CASE("cluster: the pass-through suite through herdguard equals the cluster, reply for reply",
          "[integration][cluster]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    auto proxy = cluster_proxy(dir, cluster);
    const auto direct_port = owner_port(cluster.port(0), direct_prefix);
    client via_proxy(proxy->port(), 5s);
    client direct(direct_port, 5s);

    for (const auto& sequence : all_sequences()) {
        INFO("sequence: " << sequence.name);
        compare_sequence(via_proxy, direct, sequence.commands);
        // Each sequence starts from no keys, as it does on a fresh Redis. FLUSHALL through
        // herdguard reaches every master, the direct side's too.
        REQUIRE(via_proxy.cmd({"FLUSHALL"}) == "+OK");
        REQUIRE(direct.cmd({"DBSIZE"}) == ":0");
    }

    check_mixed_pipeline(via_proxy, direct);

    // SCAN through herdguard walks every master; the direct keys are all on one.
    std::vector<command> proxy_sets, direct_sets;
    for (int i = 0; i < 500; ++i) {
        proxy_sets.push_back({"SET", std::string(proxy_prefix) + "scan:" + std::to_string(i), "v"});
        direct_sets.push_back({"SET", std::string(direct_prefix) + "scan:" + std::to_string(i), "v"});
    }
    for (const auto& r : via_proxy.pipeline(proxy_sets)) REQUIRE(r == "+OK");
    for (const auto& r : direct.pipeline(direct_sets)) REQUIRE(r == "+OK");
    const auto proxy_keys = scan_all(via_proxy, proxy_prefix);
    CHECK(proxy_keys.size() == 500);
    CHECK(proxy_keys == scan_all(direct, direct_prefix));

    client proxy_b(proxy->port()), direct_b(direct_port);
    const auto watched_via_proxy = watch_abort_scenario(via_proxy, proxy_b, proxy_prefix);
    const auto watched_direct = watch_abort_scenario(direct, direct_b, direct_prefix);
    CHECK(watched_direct[5] == "(nil)");  // the scenario's own premise
    CHECK(watched_via_proxy == watched_direct);

    // 200 clients whose keys ("rw:<n>") spread over the three masters.
    const auto own_writes = read_own_writes(proxy->port(), 200, 50);
    INFO(own_writes.summary);
    CHECK(own_writes.failures == 0);
    CHECK(own_writes.completed == 200);
}
