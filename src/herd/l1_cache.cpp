#include "herdguard/herd/l1_cache.h"

#include <functional>

namespace herdguard {

l1_cache::l1_cache(std::size_t max_bytes) : shard_budget_(max_bytes / shard_count) {}

std::uint64_t l1_cache::hash_of(std::string_view key) { return std::hash<std::string_view>{}(key); }

void l1_cache::erase(shard& s, std::list<entry>::iterator it) {
    s.bytes -= it->charge;
    if (it->value) --s.values;
    s.index.erase(std::string_view(it->key));
    s.lru.erase(it);
}

// Evicts from the least recently used end until `charge` more fits; false if it never can.
bool l1_cache::make_room(shard& s, std::size_t charge) {
    if (charge > shard_budget_) return false;
    while (s.bytes + charge > shard_budget_ && !s.lru.empty()) {
        erase(s, std::prev(s.lru.end()));
        evictions_.fetch_add(1, std::memory_order_relaxed);
    }
    return true;
}

std::shared_ptr<const std::string> l1_cache::find(std::string_view key, clock::time_point now) {
    auto& s = shard_of(hash_of(key));
    std::lock_guard lock(s.mutex);
    auto it = s.index.find(key);
    if (it == s.index.end() || !it->second->value) return nullptr;
    if (it->second->expires <= now) {
        erase(s, it->second);
        return nullptr;
    }
    s.lru.splice(s.lru.begin(), s.lru, it->second);
    return it->second->value;
}

bool l1_cache::holds(std::string_view key, clock::time_point now) {
    auto& s = shard_of(hash_of(key));
    std::lock_guard lock(s.mutex);
    auto it = s.index.find(key);
    return it != s.index.end() && it->second->value && it->second->expires > now;
}

std::uint64_t l1_cache::reserve(std::string_view key) {
    const std::uint64_t token = next_token_.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t h = hash_of(key);
    auto& s = shard_of(h);
    std::lock_guard lock(s.mutex);
    if (!s.fences.empty() && s.fences.contains(h)) return 0;
    if (auto it = s.index.find(key); it != s.index.end()) {
        if (!it->second->value) return 0;  // another read's reservation is live
        erase(s, it->second);              // an expired value
    }
    entry e;
    e.key.assign(key);
    e.token = token;
    e.charge = heap_bytes(e.key.capacity()) + entry_overhead;
    if (!make_room(s, e.charge)) return 0;
    s.bytes += e.charge;
    s.lru.push_front(std::move(e));
    s.index.emplace(std::string_view(s.lru.front().key), s.lru.begin());
    return token;
}

l1_cache::fill_result l1_cache::fill(std::string_view key, std::uint64_t token, std::string_view reply,
                                     clock::time_point expires) {
    // Built outside the lock: the copy of a large value does not hold up the shard.
    auto value = std::make_shared<const std::string>(reply);
    const std::size_t value_charge = heap_bytes(value->capacity());
    auto& s = shard_of(hash_of(key));
    std::lock_guard lock(s.mutex);
    auto it = s.index.find(key);
    if (it == s.index.end() || it->second->token != token) return fill_result::voided;
    auto node = it->second;
    // Take the reservation out while room is made, so eviction cannot pick it.
    const std::size_t charge = node->charge + value_charge;
    s.bytes -= node->charge;
    std::list<entry> held;
    held.splice(held.begin(), s.lru, node);
    if (!make_room(s, charge)) {
        s.index.erase(std::string_view(node->key));
        return fill_result::too_big;
    }
    held.front().value = std::move(value);
    held.front().expires = expires;
    held.front().charge = charge;
    s.lru.splice(s.lru.begin(), held, held.begin());
    s.bytes += charge;
    ++s.values;
    return fill_result::stored;
}

void l1_cache::fence(std::string_view key) {
    const std::uint64_t h = hash_of(key);
    auto& s = shard_of(h);
    std::lock_guard lock(s.mutex);
    ++s.fences[h];
    if (auto it = s.index.find(key); it != s.index.end()) erase(s, it->second);
}

void l1_cache::unfence(std::string_view key) {
    const std::uint64_t h = hash_of(key);
    auto& s = shard_of(h);
    std::lock_guard lock(s.mutex);
    if (auto f = s.fences.find(h); f != s.fences.end() && --f->second <= 0) s.fences.erase(f);
    if (auto it = s.index.find(key); it != s.index.end()) erase(s, it->second);
}

void l1_cache::cancel(std::string_view key, std::uint64_t token) {
    auto& s = shard_of(hash_of(key));
    std::lock_guard lock(s.mutex);
    auto it = s.index.find(key);
    if (it != s.index.end() && it->second->token == token && !it->second->value) erase(s, it->second);
}

bool l1_cache::invalidate(std::string_view key) {
    auto& s = shard_of(hash_of(key));
    std::lock_guard lock(s.mutex);
    auto it = s.index.find(key);
    if (it == s.index.end()) return false;
    erase(s, it->second);
    return true;
}

void l1_cache::clear() {
    for (auto& s : shards_) {
        std::lock_guard lock(s.mutex);
        s.index.clear();  // fences stay: their writes are still in flight
        s.lru.clear();
        s.bytes = 0;
        s.values = 0;
    }
}

std::size_t l1_cache::sum(std::size_t shard::*field) const {
    std::size_t n = 0;
    for (const auto& s : shards_) {
        std::lock_guard lock(s.mutex);
        n += s.*field;
    }
    return n;
}

std::size_t l1_cache::bytes() const { return sum(&shard::bytes); }

std::size_t l1_cache::entries() const { return sum(&shard::values); }

}  // namespace herdguard
