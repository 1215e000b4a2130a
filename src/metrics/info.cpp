#include "herdguard/metrics/info.h"

#include <fmt/format.h>

#include "herdguard/herd/read_through.h"
#include "herdguard/metrics/stats_source.h"

namespace herdguard {

namespace {

// An INFO field is one line: a line break in an error's text would start a bogus field.
std::string one_line(std::string text) {
    for (auto& c : text)
        if (c == '\r' || c == '\n') c = ' ';
    return text;
}

}  // namespace

std::string herdguard_info(const stats_source& source) {
    std::string out = source.read_through().info_section();
    out += fmt::format("connected_clients:{}\r\n", source.clients_connected());
    out += fmt::format("redis_private_connections:{}\r\n", source.private_redis_connections());
    if (const auto cluster = source.cluster_map(); cluster.enabled) {
        out += fmt::format("cluster_map_version:{}\r\ncluster_map_refreshes:{}\r\ncluster_masters:{}\r\n",
                           cluster.version, cluster.refreshes, cluster.masters);
        out += fmt::format("cluster_map_last_error:{}\r\n", one_line(cluster.last_error));
    }
    for (const auto& c : source.summed_counters()) out += fmt::format("{}:{}\r\n", c.name, c.value);
    return out;
}

}  // namespace herdguard
