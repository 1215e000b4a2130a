#include "herdguard/stats/histogram.h"

#include <fmt/format.h>

namespace herdguard {

void latency_histogram::append_prometheus(std::string& out, std::string_view name, std::string_view labels) const {
    const std::string sep = labels.empty() ? "" : ",";
    // Read each bucket once so the cumulative counts and _count agree with each other.
    std::array<std::uint64_t, bounds_us.size() + 1> snap{};
    std::uint64_t sum_us = 0;
    for (const auto& s : shards_) {
        for (std::size_t i = 0; i < snap.size(); ++i) snap[i] += s.buckets[i].load(std::memory_order_relaxed);
        sum_us += s.sum_us.load(std::memory_order_relaxed);
    }
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i < bounds_us.size(); ++i) {
        cumulative += snap[i];
        out += fmt::format("{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                           static_cast<double>(bounds_us[i]) / 1e6, cumulative);
    }
    cumulative += snap.back();
    out += fmt::format("{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels, sep, cumulative);
    const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
    out += fmt::format("{}_sum{} {}\n", name, braces,
                       static_cast<double>(sum_us) / 1e6);
    out += fmt::format("{}_count{} {}\n", name, braces, cumulative);
}

}  // namespace herdguard
