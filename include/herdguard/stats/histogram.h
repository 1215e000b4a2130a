// A fixed-bucket latency histogram, safe to observe from any thread (atomic buckets), exposed in
// Prometheus form (cumulative buckets, _sum, _count, in seconds).
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

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
        buckets_[i].fetch_add(1, std::memory_order_relaxed);  // i == size(): the +Inf bucket
        sum_us_.fetch_add(us, std::memory_order_relaxed);
    }

    std::uint64_t count() const {
        std::uint64_t n = 0;
        for (const auto& b : buckets_) n += b.load(std::memory_order_relaxed);
        return n;
    }

    // Appends `name_bucket{labels,le=...}`, `name_sum{labels}`, `name_count{labels}` lines.
    // `labels` is either empty or like `route="products",outcome="fresh"`.
    void append_prometheus(std::string& out, std::string_view name, std::string_view labels) const;

private:
    std::array<std::atomic<std::uint64_t>, bounds_us.size() + 1> buckets_{};
    std::atomic<std::uint64_t> sum_us_{0};
};

}  // namespace herdguard
