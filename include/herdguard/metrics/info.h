// The "# Herdguard" INFO section: proxy counters (summed over workers) and every route's
// read-through counters, breaker state and waiters, from the same lists as everything else.
#pragma once

#include <string>

namespace herdguard {

class stats_source;
std::string herdguard_info(const stats_source& source);

}  // namespace herdguard
