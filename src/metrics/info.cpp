#include "herdguard/metrics/info.h"

#include <fmt/format.h>

#include "herdguard/herd/read_through.h"
#include "herdguard/metrics/stats_source.h"

namespace herdguard {

std::string herdguard_info(const stats_source& source) {
    std::string out = source.read_through().info_section();
    out += fmt::format("connected_clients:{}\r\n", source.clients_connected());
    out += fmt::format("redis_private_connections:{}\r\n", source.private_redis_connections());
    for (const auto& c : source.summed_counters()) out += fmt::format("{}:{}\r\n", c.name, c.value);
    return out;
}

}  // namespace herdguard
