#include "herdguard/stats/thread_shard.h"

namespace herdguard {

std::size_t assign_thread_shard() noexcept {
    static std::atomic<std::size_t> next{0};
    const std::size_t n = next.fetch_add(1, std::memory_order_relaxed);
    return n < thread_shards - 1 ? n : thread_shards - 1;
}

}  // namespace herdguard
