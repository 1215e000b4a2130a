// Counters that many threads add to without a locked instruction on the hot path.
//
// A routed hit used to pay five atomic read-modify-writes (`lock xadd`, ~20 cycles each, more
// when another core holds the line): the route's requests/hits counters and its latency
// histogram. Here each thread adds to a shard of its own, on its own cache line, with a plain
// load and store; readers (INFO, /metrics, HERDGUARD STATS) sum the shards. The first
// `thread_shards - 1` threads that count anything get a shard each; any later thread shares the
// last one, where adds are atomic read-modify-writes again (correct, only slower).
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

namespace herdguard {

inline constexpr std::size_t thread_shards = 16;

std::size_t assign_thread_shard() noexcept;  // the next free shard, or the shared one

// This thread's shard, 0 .. thread_shards - 1; the last one is shared. Inline, with a
// constant-initialized thread_local: a hit asks it five times.
inline std::size_t this_thread_shard() noexcept {
    thread_local std::size_t mine = thread_shards;  // not yet assigned
    if (mine == thread_shards) [[unlikely]]
        mine = assign_thread_shard();
    return mine;
}

// Adds `n` to a counter in this thread's shard `index` (shared: the last shard).
inline void shard_add(std::atomic<std::uint64_t>& c, std::size_t index, std::uint64_t n) noexcept {
    if (index + 1 < thread_shards) c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    else c.fetch_add(n, std::memory_order_relaxed);
}

// A counter with the std::atomic calls the counters' readers and writers use.
class sharded_counter {
public:
    void fetch_add(std::uint64_t n, std::memory_order = std::memory_order_relaxed) noexcept {
        const std::size_t i = this_thread_shard();
        shard_add(lines_[i].value, i, n);
    }
    std::uint64_t load(std::memory_order = std::memory_order_relaxed) const noexcept {
        std::uint64_t sum = 0;
        for (const auto& l : lines_) sum += l.value.load(std::memory_order_relaxed);
        return sum;
    }

private:
    struct alignas(64) line {
        std::atomic<std::uint64_t> value{0};
    };
    std::array<line, thread_shards> lines_{};
};

}  // namespace herdguard
