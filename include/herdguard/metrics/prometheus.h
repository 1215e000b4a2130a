// Prometheus text exposition (format 0.0.4) of every counter and gauge, from the same lists that
// build INFO: names herdguard_*, label `route` on route metrics.
#pragma once

#include <string>

namespace herdguard {

class stats_source;
struct prometheus_options {
    bool hot_keys = false;  // the hot-key gauge, labelled by key name (admin.hot_keys_in_metrics)
};
std::string prometheus_text(const stats_source& source, prometheus_options options = {});

}  // namespace herdguard
