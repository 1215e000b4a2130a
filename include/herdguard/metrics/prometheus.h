// Prometheus text exposition (format 0.0.4) of every counter and gauge, from the same lists that
// build INFO: names herdguard_*, label `route` on route metrics.
#pragma once

#include <string>

namespace herdguard {

class stats_source;
std::string prometheus_text(const stats_source& source);

}  // namespace herdguard
