// The "# Herdguard" INFO section: proxy counters (summed over workers) and every route's
// read-through counters, breaker state and waiters, from the same lists as everything else.
#pragma once

#include <string>

namespace herdguard {

struct server_state;
std::string herdguard_info(const server_state& state);

}  // namespace herdguard
