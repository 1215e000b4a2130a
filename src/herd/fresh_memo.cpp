#include "herdguard/herd/fresh_memo.h"

#include <bit>
#include <functional>
#include <utility>

namespace herdguard {

fresh_memo::fresh_memo(std::size_t slots) : entries_(slots == 0 ? 0 : std::bit_ceil(slots)) {}

const fresh_memo::entry* fresh_memo::find_slot(std::string_view key) const {
    if (entries_.empty()) return nullptr;
    return &entries_[std::hash<std::string_view>{}(key) & (entries_.size() - 1)];
}

fresh_memo::entry* fresh_memo::find_slot(std::string_view key) {
    return const_cast<entry*>(std::as_const(*this).find_slot(key));
}

bool fresh_memo::fresh(const void* owner, std::string_view key, clock::time_point now) const {
    const entry* e = find_slot(key);
    return e != nullptr && e->owner == owner && now < e->until && e->key == key;
}

void fresh_memo::remember(const void* owner, std::string_view key, clock::time_point now, clock::time_point until) {
    if (key.size() > max_key_bytes || until <= now) return;
    entry* e = find_slot(key);
    if (e == nullptr) return;
    e->key.assign(key);
    e->owner = owner;
    e->until = std::min(until, now + max_horizon);
}

void fresh_memo::forget(std::string_view key) {
    entry* e = find_slot(key);
    if (e != nullptr && e->key == key) e->owner = nullptr;
}

}  // namespace herdguard
