// Each command family's rule in front of a cluster (upstream/cluster_plan.h).
#include <catch2/catch.hpp>

#include <vector>

#include "herdguard/upstream/cluster_plan.h"

using namespace herdguard;

namespace {
cluster_plan plan_of(std::vector<std::string_view> argv) { return plan_cluster_command(argv); }
}  // namespace

TEST_CASE("cluster plan: keyed commands go to their slot; Redis answers CROSSSLOT itself", "[cluster]") {
    for (auto argv : std::vector<std::vector<std::string_view>>{
             {"GET", "k"}, {"set", "k", "v"}, {"HGETALL", "h"}, {"EVAL", "return 1", "1", "k"},
             {"MSETNX", "a", "1", "b", "2"},  // atomic: never split
             {"RENAME", "a", "b"}, {"BLPOP", "q", "0"}, {"XREAD", "STREAMS", "s", "0"}}) {
        INFO(argv[0]);
        CHECK(plan_of(argv).route == cluster_route::slot);
    }
}

TEST_CASE("cluster plan: multi-key commands are split by slot and put back together", "[cluster]") {
    auto mget = plan_of({"MGET", "a", "b"});
    CHECK(mget.route == cluster_route::split);
    CHECK(mget.merge == cluster_merge::values_in_order);
    CHECK(mget.stride == 1);
    for (auto name : {"DEL", "unlink", "EXISTS", "Touch"}) {
        auto p = plan_of({name, "a", "b"});
        CHECK(p.route == cluster_route::split);
        CHECK(p.merge == cluster_merge::sum);
    }
    auto mset = plan_of({"MSET", "a", "1", "b", "2"});
    CHECK(mset.route == cluster_route::split);
    CHECK(mset.merge == cluster_merge::all_ok);
    CHECK(mset.stride == 2);
    CHECK(mset.first_key == 1);
}

TEST_CASE("cluster plan: keyless commands go to every master or to one", "[cluster]") {
    CHECK(plan_of({"DBSIZE"}).merge == cluster_merge::sum);
    CHECK(plan_of({"KEYS", "*"}).merge == cluster_merge::concat);
    CHECK(plan_of({"FLUSHALL"}).route == cluster_route::all_masters);
    CHECK(plan_of({"flushdb", "async"}).merge == cluster_merge::all_ok);
    CHECK(plan_of({"SCAN", "0"}).merge == cluster_merge::scan);
    CHECK(plan_of({"SCRIPT", "LOAD", "return 1"}).merge == cluster_merge::same);
    CHECK(plan_of({"SCRIPT", "LOAD", "return 1"}).route == cluster_route::all_masters);
    CHECK(plan_of({"SCRIPT", "FLUSH"}).merge == cluster_merge::all_ok);
    CHECK(plan_of({"SCRIPT", "EXISTS", "abc"}).route == cluster_route::any_master);
    CHECK(plan_of({"FUNCTION", "LOAD", "#!lua name=x\n"}).route == cluster_route::all_masters);
    CHECK(plan_of({"INFO"}).merge == cluster_merge::info);
    CHECK(plan_of({"PUBLISH", "ch", "m"}).route == cluster_route::any_master);
    CHECK(plan_of({"RANDOMKEY"}).route == cluster_route::any_master);
}

TEST_CASE("cluster plan: SELECT as a cluster answers it", "[cluster]") {
    CHECK(plan_of({"SELECT", "0"}).route == cluster_route::local);
    CHECK(plan_of({"SELECT", "0"}).local_reply == "+OK\r\n");
    CHECK(plan_of({"select", "3"}).local_reply == "-ERR SELECT is not allowed in cluster mode\r\n");
    CHECK(plan_of({"SELECT"}).local_reply == "-ERR wrong number of arguments for 'select' command\r\n");
}
