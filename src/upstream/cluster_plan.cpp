#include "herdguard/upstream/cluster_plan.h"

#include "herdguard/util/strings.h"

namespace herdguard {

namespace {

cluster_plan plan(cluster_route r, cluster_merge m = cluster_merge::none) {
    cluster_plan p;
    p.route = r;
    p.merge = m;
    return p;
}

}  // namespace

cluster_plan plan_cluster_command(std::span<const std::string_view> argv) {
    if (argv.empty()) return plan(cluster_route::local);
    const auto name = argv[0];
    const auto sub = argv.size() > 1 ? argv[1] : std::string_view{};

    if (iequals(name, "mget")) return plan(cluster_route::split, cluster_merge::values_in_order);
    if (iequals_any(name, {"del", "unlink", "exists", "touch"})) return plan(cluster_route::split, cluster_merge::sum);
    if (iequals(name, "mset")) {
        auto p = plan(cluster_route::split, cluster_merge::all_ok);
        p.stride = 2;
        return p;
    }

    if (iequals(name, "dbsize")) return plan(cluster_route::all_masters, cluster_merge::sum);
    if (iequals(name, "keys")) return plan(cluster_route::all_masters, cluster_merge::concat);
    if (iequals_any(name, {"flushall", "flushdb"})) return plan(cluster_route::all_masters, cluster_merge::all_ok);
    if (iequals(name, "scan")) return plan(cluster_route::all_masters, cluster_merge::scan);
    if (iequals(name, "script") || iequals(name, "function")) {
        if (iequals(sub, "load")) return plan(cluster_route::all_masters, cluster_merge::same);
        // KILL: only the master running the script can stop it; the others say NOTBUSY.
        if (iequals(sub, "kill")) return plan(cluster_route::all_masters, cluster_merge::any_ok);
        if (iequals_any(sub, {"flush", "restore", "delete"}))
            return plan(cluster_route::all_masters, cluster_merge::all_ok);
        return plan(cluster_route::any_master);  // EXISTS, LIST, DUMP, STATS, HELP
    }
    if (iequals(name, "info")) return plan(cluster_route::any_master, cluster_merge::info);
    if (iequals(name, "memory") && iequals(sub, "usage")) return plan(cluster_route::slot);  // about a key
    if (iequals_any(name, {"randomkey", "publish", "time", "lastsave", "memory", "command", "config", "latency",
                      "slowlog", "lolwut", "echo", "ping"}))
        return plan(cluster_route::any_master);

    if (iequals(name, "select")) {
        auto p = plan(cluster_route::local);
        p.local_reply = argv.size() == 2 && argv[1] == "0"
                            ? "+OK\r\n"
                            : argv.size() != 2 ? "-ERR wrong number of arguments for 'select' command\r\n"
                                               : "-ERR SELECT is not allowed in cluster mode\r\n";
        return p;
    }
    return plan(cluster_route::slot);
}

}  // namespace herdguard
