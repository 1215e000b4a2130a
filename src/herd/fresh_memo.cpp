#include "herdguard/herd/fresh_memo.h"

#include <algorithm>
#include <bit>
#include <functional>

namespace herdguard {

fresh_memo::fresh_memo(std::size_t slots)
    : lines_(slots == 0 ? 0 : std::bit_ceil(std::max(slots, ways)) / ways),
      mask_(lines_.empty() ? 0 : lines_.size() - 1) {
    for (auto& w : written_) w.assign((lines_.size() + 63) / 64, 0);
}

// An entry lives at most max_horizon, so one remembered in an epoch two epochs ago has ended:
// its bit may go. Epochs are at least max_horizon long.
void fresh_memo::roll(clock::time_point now) {
    const clock::rep t = now.time_since_epoch().count();
    if (t < epoch_end_) return;
    const clock::rep horizon = std::chrono::duration_cast<clock::duration>(max_horizon).count();
    if (t >= epoch_end_ + horizon) std::fill(written_[1 - current_].begin(), written_[1 - current_].end(), 0);
    current_ = 1 - current_;
    std::fill(written_[current_].begin(), written_[current_].end(), 0);
    epoch_end_ = t + horizon;
}

std::uint64_t fresh_memo::hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

bool fresh_memo::fresh(const void* owner, std::uint64_t key_hash, clock::time_point now) const {
    const std::uint64_t tag = tag_of(owner, key_hash);
    const line* l = line_of(tag);
    if (l == nullptr) return false;
    for (const entry& e : l->e)
        if (e.tag == tag) return now.time_since_epoch().count() < e.until;
    return false;
}

void fresh_memo::remember(const void* owner, std::uint64_t key_hash, clock::time_point now, clock::time_point until) {
    const std::uint64_t tag = tag_of(owner, key_hash);
    line* l = line_of(tag);
    if (l == nullptr || until <= now) return;
    roll(now);
    const std::size_t i = index_of(tag);
    written_[current_][i / 64] |= std::uint64_t{1} << (i % 64);
    entry* slot = &l->e[0];
    for (entry& e : l->e) {
        if (e.tag == tag) {  // the key's own entry
            slot = &e;
            break;
        }
        if (e.until < slot->until) slot = &e;  // else the one that ends first (an empty one: 0)
    }
    slot->tag = tag;
    slot->until = std::min(until, now + max_horizon).time_since_epoch().count();
}

void fresh_memo::forget(const void* owner, std::uint64_t key_hash, clock::time_point now) {
    const std::uint64_t tag = tag_of(owner, key_hash);
    line* l = line_of(tag);
    if (l == nullptr) return;
    roll(now);
    const std::size_t i = index_of(tag);
    const std::uint64_t bit = std::uint64_t{1} << (i % 64);
    if (((written_[0][i / 64] | written_[1][i / 64]) & bit) == 0) return;  // nothing alive there
    for (entry& e : l->e)
        if (e.tag == tag) e = entry{};
}

}  // namespace herdguard
