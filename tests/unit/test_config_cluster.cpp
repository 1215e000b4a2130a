// redis.cluster (issue 13): seeds, refresh_interval, max_redirects, and what cannot go with it:
// redis.address (in the file, or from --redis / HERDGUARD_REDIS), a database other than 0, l1.
#include <catch2/catch.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "config_test_support.h"
#include "herdguard/config/config.h"

using namespace herdguard;
using namespace herdguard::test;

namespace {

const std::string cluster_block =
    "redis:\n"
    "  cluster:\n"
    "    seeds: [10.0.0.1:7000, \"redis-b.internal:7001\", \"[::1]:7002\"]\n"
    "    refresh_interval: 30s\n"
    "    max_redirects: 8\n";

const std::string route_with_l1 =
    "routes:\n"
    "  - name: products\n"
    "    match: \"product:*\"\n"
    "    upstream: \"http://127.0.0.1:8080/products/{1}\"\n"
    "    l1: {max_bytes: 1mb}\n";

}  // namespace

TEST_CASE("cluster: off by default", "[config][cluster]") {
    config cfg = load_ok("");
    CHECK_FALSE(cfg.redis.cluster.enabled());
    CHECK(cfg.redis.cluster.seeds.empty());
    CHECK(cfg.redis.cluster.refresh_interval == duration(10000));
    CHECK(cfg.redis.cluster.max_redirects == 5);
}

TEST_CASE("cluster: a full block parses", "[config][cluster]") {
    config cfg = load_ok(cluster_block);
    const redis_cluster_config& c = cfg.redis.cluster;
    REQUIRE(c.enabled());
    REQUIRE(c.seeds.size() == 3);
    CHECK(c.seeds[0] == address{false, "10.0.0.1", 7000});
    CHECK(c.seeds[1] == address{false, "redis-b.internal", 7001});
    CHECK(c.seeds[2] == address{false, "::1", 7002});
    CHECK(c.refresh_interval == duration(30000));
    CHECK(c.max_redirects == 8);
    CHECK(cfg.redis.addr == redis_config{}.addr);  // untouched, unused
}

TEST_CASE("cluster: seeds alone take the defaults", "[config][cluster]") {
    config cfg = load_ok("redis:\n  cluster:\n    seeds:\n      - 10.0.0.1:7000\n");
    const redis_cluster_config& c = cfg.redis.cluster;
    REQUIRE(c.seeds.size() == 1);
    CHECK(c.refresh_interval == duration(10000));
    CHECK(c.max_redirects == 5);
    // The rest of redis.* still applies to every node.
    CHECK(load_ok("redis:\n  password: pw\n  cluster: {seeds: [10.0.0.1:7000]}\n").redis.password ==
          "pw");
}

TEST_CASE("cluster: redis.address beside it is rejected, naming both", "[config][cluster]") {
    const std::string expected =
        "cfg.yaml: redis.cluster: redis.address and redis.cluster are mutually exclusive: remove "
        "redis.address to front a cluster (its nodes come from seeds)";
    CHECK(load_error("redis:\n  address: 10.0.0.9:6379\n  cluster: {seeds: [10.0.0.1:7000]}\n") ==
          expected);
    // Order does not matter, and the default address written out counts as set.
    CHECK(load_error("redis:\n  cluster: {seeds: [10.0.0.1:7000]}\n  address: 127.0.0.1:6379\n") ==
          expected);
}

TEST_CASE("cluster: --redis or HERDGUARD_REDIS with a cluster file is rejected",
          "[config][cluster][cli]") {
    temp_file file(cluster_block);
    const std::string problem =
        "redis.address: is set, but " + file.path() +
        " has redis.cluster: redis.address and redis.cluster are mutually exclusive (drop "
        "--redis/HERDGUARD_REDIS to front the cluster)";
    CHECK(cli_error({"--config", file.path(), "--redis", "10.0.0.9:6379"}) ==
          "command line: " + problem);
    CHECK(cli_error({"--config", file.path()}, fake_env{{"HERDGUARD_REDIS", "10.0.0.9:6379"}}) ==
          "env HERDGUARD_REDIS: " + problem);
    // Even the default address, given explicitly.
    CHECK(cli_error({"--config", file.path(), "--redis", "127.0.0.1:6379"}) ==
          "command line: " + problem);

    // Without them the default address does not count, and other flags are fine.
    command_line cl = cli_ok({"--config", file.path(), "--threads", "2"},
                             fake_env{{"HERDGUARD_REDIS", ""}});  // empty = unset
    CHECK(cl.cfg.redis.cluster.seeds.size() == 3);
    CHECK(cl.cfg.threads == 2);
}

TEST_CASE("cluster: seeds are required and must be TCP addresses", "[config][cluster]") {
    const std::string missing =
        "cfg.yaml: redis.cluster.seeds: missing: redis.cluster needs at least one node's host:port "
        "(any node of the cluster)";
    CHECK(load_error("redis:\n  cluster:\n") == missing);
    CHECK(load_error("redis:\n  cluster: {}\n") == missing);
    CHECK(load_error("redis:\n  cluster:\n    seeds: []\n") == missing);
    CHECK(load_error("redis:\n  cluster:\n    seeds:\n") == missing);
    CHECK(load_error("redis:\n  cluster:\n    max_redirects: 3\n") == missing);

    CHECK(load_error("redis:\n  cluster:\n    seeds: [10.0.0.1:7000, nohost]\n") ==
          "cfg.yaml: redis.cluster.seeds[1]: missing port in \"nohost\" (expected host:port)");
    CHECK(load_error("redis:\n  cluster:\n    seeds: [10.0.0.1:0]\n") != "(accepted)");
    CHECK_THAT(load_error("redis:\n  cluster:\n    seeds: [10.0.0.1:70000]\n"),
               Catch::StartsWith("cfg.yaml: redis.cluster.seeds[0]: "));
    CHECK(load_error("redis:\n  cluster:\n    seeds: [unix:/tmp/redis.sock]\n") ==
          "cfg.yaml: redis.cluster.seeds[0]: unix sockets are not supported for cluster nodes "
          "(use host:port), got unix:/tmp/redis.sock");
    CHECK(load_error("redis:\n  cluster:\n    seeds: 10.0.0.1:7000\n") ==
          "cfg.yaml: redis.cluster.seeds: expected a list of host:port addresses, got "
          "\"10.0.0.1:7000\"");
    CHECK(load_error("redis:\n  cluster:\n    seeds: [[10.0.0.1:7000]]\n") ==
          "cfg.yaml: redis.cluster.seeds[0]: expected a cluster node's host:port, got a list");
}

TEST_CASE("cluster: unknown and malformed fields", "[config][cluster]") {
    CHECK(load_error("redis:\n  cluster:\n    seeds: [10.0.0.1:7000]\n    max_redirect: 3\n") ==
          "cfg.yaml: redis.cluster.max_redirect: unknown field");
    CHECK(load_error("redis:\n  cluster: [10.0.0.1:7000]\n") ==
          "cfg.yaml: redis.cluster: expected a mapping, got a list");
    CHECK(
        load_error("redis:\n  cluster:\n    seeds: [10.0.0.1:7000]\n    refresh_interval: 10\n") !=
        "(accepted)");
}

TEST_CASE("cluster: ranges of max_redirects and refresh_interval", "[config][cluster]") {
    auto with = [](const std::string& line) {
        return load_error("redis:\n  cluster:\n    seeds: [10.0.0.1:7000]\n    " + line + "\n");
    };
    CHECK(with("max_redirects: 0") ==
          "cfg.yaml: redis.cluster.max_redirects: must be between 1 and 100, got 0");
    CHECK(with("max_redirects: 101") ==
          "cfg.yaml: redis.cluster.max_redirects: must be between 1 and 100, got 101");
    CHECK(with("max_redirects: 1") == "(accepted)");
    CHECK(with("max_redirects: 100") == "(accepted)");
    CHECK(with("refresh_interval: 0s") ==
          "cfg.yaml: redis.cluster.refresh_interval: must be greater than 0, got 0s");
    CHECK(with("refresh_interval: 250ms") == "(accepted)");
}

TEST_CASE("cluster: only database 0", "[config][cluster]") {
    CHECK(load_error(cluster_block + "  database: 1\n") ==
          "cfg.yaml: redis.database: must be 0 with redis.cluster (Redis Cluster has only "
          "database 0), got 1");
    CHECK(load_error(cluster_block + "  database: 0\n") == "(accepted)");
    CHECK(load_error("redis:\n  database: 1\n") == "(accepted)");  // fine without a cluster
}

TEST_CASE("cluster: no route may have an l1 block", "[config][cluster]") {
    CHECK(load_error(cluster_block + route_with_l1) ==
          "cfg.yaml: routes[0].l1: l1 is not supported with redis.cluster yet: tracking would "
          "have to follow every master (remove the l1 block)");
    CHECK(load_error(route_with_l1) == "(accepted)");  // fine without a cluster
}

TEST_CASE("cluster: validate() checks a config built in code", "[config][cluster]") {
    config cfg;
    cfg.redis.cluster.seeds.push_back(address{false, "10.0.0.1", 7000});
    CHECK_FALSE(validate(cfg));
    cfg.redis.cluster.max_redirects = 0;
    REQUIRE(validate(cfg));
    CHECK(validate(cfg)->message ==
          "config: redis.cluster.max_redirects: must be between 1 and 100, got 0");
    cfg.redis.cluster.max_redirects = 5;
    cfg.redis.cluster.seeds.push_back(address{true, "/tmp/redis.sock", 0});
    REQUIRE(validate(cfg));
    CHECK(validate(cfg)->message ==
          "config: redis.cluster.seeds[1]: unix sockets are not supported for cluster nodes (use "
          "host:port)");
}

TEST_CASE("cluster: the example's commented-out block loads once uncommented",
          "[config][cluster][example]") {
    std::ifstream in(std::string(HERDGUARD_SOURCE_DIR) + "/config/herdguard.yaml");
    REQUIRE(in);
    std::string text, line;
    bool in_block = false;
    while (std::getline(in, line)) {
        if (line.rfind("  address:", 0) == 0) continue;  // the two are exclusive
        if (line.rfind("  # cluster:", 0) == 0) in_block = true;
        if (in_block && line.rfind("  #", 0) == 0) {
            line = "  " + line.substr(4);  // "  #   seeds: ..." -> "    seeds: ..."
        } else {
            in_block = false;
        }
        text += line + "\n";
    }
    config cfg = load_ok(text);
    const redis_cluster_config& c = cfg.redis.cluster;
    REQUIRE(c.seeds.size() == 2);
    CHECK(c.seeds[0] == address{false, "10.0.0.1", 7000});
    CHECK(c.refresh_interval == redis_cluster_config{}.refresh_interval);
    CHECK(c.max_redirects == redis_cluster_config{}.max_redirects);
}
