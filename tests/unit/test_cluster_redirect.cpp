// Redis Cluster's redirect errors as Redis 7 writes them (cluster.c: "-MOVED %d %s:%d", "-ASK
// ...", "-TRYAGAIN Multiple keys request during rehashing of slot", "-CLUSTERDOWN ...").
#include <catch2/catch.hpp>

#include "herdguard/upstream/cluster_redirect.h"

using namespace herdguard;
using kind = cluster_redirect::kind;

TEST_CASE("cluster redirects: MOVED and ASK name the slot and the node", "[cluster]") {
    auto m = read_cluster_redirect("-MOVED 3999 127.0.0.1:6381\r\n");
    CHECK(m.what == kind::moved);
    CHECK(m.slot == 3999);
    CHECK(m.host == "127.0.0.1");
    CHECK(m.port == 6381);
    auto a = read_cluster_redirect("ASK 16383 10.0.0.2:7000");
    CHECK(a.what == kind::ask);
    CHECK(a.slot == 16383);
    CHECK(a.host == "10.0.0.2");
    auto v6 = read_cluster_redirect("-MOVED 1 ::1:7001\r\n");  // IPv6, unbracketed
    CHECK(v6.what == kind::moved);
    CHECK(v6.host == "::1");
    CHECK(v6.port == 7001);
    auto unknown = read_cluster_redirect("-MOVED 12 :7002\r\n");  // endpoint announced as unknown
    CHECK(unknown.what == kind::moved);
    CHECK(unknown.host.empty());
    CHECK(read_cluster_redirect("-MOVED 3999 redis-2.example.internal:6379\r\n").host == "redis-2.example.internal");
}

TEST_CASE("cluster redirects: retries, and everything else is the client's answer", "[cluster]") {
    CHECK(read_cluster_redirect("-TRYAGAIN Multiple keys request during rehashing of slot\r\n").what == kind::retry);
    CHECK(read_cluster_redirect("-CLUSTERDOWN The cluster is down\r\n").what == kind::retry);
    CHECK(read_cluster_redirect("-LOADING Redis is loading the dataset in memory\r\n").what == kind::retry);
    CHECK(read_cluster_redirect("-ERR wrong number of arguments for 'get' command\r\n").what == kind::none);
    CHECK(read_cluster_redirect("-CROSSSLOT Keys in request don't hash to the same slot\r\n").what == kind::none);
    CHECK(read_cluster_redirect("-MOVEDX 1 h:1\r\n").what == kind::none);
    CHECK(read_cluster_redirect("-MOVED 16384 h:1\r\n").what == kind::none);  // no such slot
    CHECK(read_cluster_redirect("-MOVED 1 h:0\r\n").what == kind::none);
    CHECK(read_cluster_redirect("-MOVED 1 h\r\n").what == kind::none);
    CHECK(read_cluster_redirect("-MOVED x h:1\r\n").what == kind::none);
    CHECK(read_cluster_redirect("-ASK\r\n").what == kind::none);
}

TEST_CASE("cluster redirect: the address to go to, with the answering node's host when none is announced",
          "[cluster]") {
    CHECK(read_cluster_redirect("-MOVED 1 10.0.0.2:7001\r\n").address("10.0.0.1:7000") == "10.0.0.2:7001");
    CHECK(read_cluster_redirect("-MOVED 1 :7001\r\n").address("10.0.0.1:7000") == "10.0.0.1:7001");
    CHECK(read_cluster_redirect("-ASK 1 ?:7002\r\n").address("10.0.0.1:7000") == "10.0.0.1:7002");
}
