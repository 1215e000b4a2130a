#include "herdguard/metrics/info.h"

#include <fmt/format.h>

#include "herdguard/server/worker.h"

namespace herdguard {

std::string herdguard_info(const server_state& state) {
    std::string out = state.herd.info_section();
    out += fmt::format("connected_clients:{}\r\n", state.connected_clients.load(std::memory_order_relaxed));
    for (const auto& c : sum_counters(state)) out += fmt::format("{}:{}\r\n", c.name, c.value);
    return out;
}

}  // namespace herdguard
