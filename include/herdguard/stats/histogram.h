// A fixed-bucket latency histogram, safe to observe from any thread, exposed in Prometheus form
// (cumulative buckets, _sum, _count, in seconds). Each thread observes into a shard of its own
// (stats/thread_shard.h), so an observation costs no locked instruction; readers sum the shards.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "herdguard/stats/thread_shard.h"

namespace herdguard {

class latency_histogram {
public:
    // Upper bounds in microseconds: 0.5 ms .. 10 s, roughly 1-2.5-5 per decade.
    static constexpr std::array<std::uint64_t, 14> bounds_us = {500,    1000,    2500,    5000,   10000,
                                                                25000,  50000,   100000,  250000, 500000,
                                                                1000000, 2500000, 5000000, 10000000};

    void observe(std::chrono::microseconds d) {
        auto us = static_cast<std::uint64_t>(d.count() < 0 ? 0 : d.count());
        std::size_t i = 0;
        while (i < bounds_us.size() && us > bounds_us[i]) ++i;
        const std::size_t t = this_thread_shard();
        auto& s = shards_[t];
        shard_add(s.buckets[i], t, 1);  // i == size(): the +Inf bucket
        shard_add(s.sum_us, t, us);
    }

    std::uint64_t count() const {
        std::uint64_t n = 0;
        for (const auto& s : shards_)
            for (const auto& b : s.buckets) n += b.load(std::memory_order_relaxed);
        return n;
    }

    // Appends `name_bucket{labels,le=...}`, `name_sum{labels}`, `name_count{labels}` lines.
    // `labels` is either empty or like `route="products",outcome="fresh"`.
    void append_prometheus(std::string& out, std::string_view name, std::string_view labels) const;

private:
    struct alignas(64) shard {
        std::array<std::atomic<std::uint64_t>, bounds_us.size() + 1> buckets{};
        std::atomic<std::uint64_t> sum_us{0};
    };
    std::array<shard, thread_shards> shards_{};
};

}  // namespace herdguard
