// L1: one route's values held in process memory, in front of the Redis read, shared by every
// worker. Coherence comes from outside (herd/l1_tracking.h: CLIENT TRACKING invalidations, and
// writes through herdguard); this class makes the one race inside safe and keeps the bounds.
//
// The fill/invalidate race. A read that misses L1 reserves the key's slot with a fresh token
// *before* it reads Redis, and may store the reply only while its token still holds the slot. An
// invalidation (or a flush) that arrives between the reservation and the reply removes the slot,
// so that reply, which may predate the write, is never stored. Tokens are unique per cache (a
// 64-bit counter), never reused, and there is no shared "pending" value, so there is no ABA.
// While one reservation is live, other misses of the key reserve nothing (reserve() says why).
//
// Bounds. `max_bytes` is never exceeded: each entry is charged what it costs the heap, its key's
// and value's buffers as malloc rounds them (heap_bytes) plus `entry_overhead` for the LRU list
// node, the index node and its bucket, and the shared value's control block, reservations
// included; the least recently used go first. (Charging only the bytes of key and value, plus a
// guess, let the process grow 1.36 times max_bytes in bench/l1.sh's scan: docs/BENCHMARKS.md.)
// An entry lives until its `expires`, which the caller sets no later than the value's fresh life
// in Redis and `max_age` after the fill.
//
// Thread safety: 16 shards by key hash, one mutex each; a hit copies a shared_ptr under the
// lock and the caller writes the bytes outside it.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace herdguard {

class l1_cache {
public:
    using clock = std::chrono::steady_clock;  // the herd clock's time points (herd_clock.h)
    static constexpr std::size_t shard_count = 16;
    // glibc x86-64: list node 112, make_shared block with the string object 64, index node 48,
    // bucket slot 16 (at most one bucket per element, load factor 1).
    static constexpr std::size_t entry_overhead = 240;
    // What a string's own buffer costs malloc: nothing when it fits the string (SSO), else its
    // capacity + NUL + malloc's 8-byte header, rounded up to 16, at least 32.
    static constexpr std::size_t heap_bytes(std::size_t capacity) {
        if (capacity <= 15) return 0;
        const std::size_t chunk = (capacity + 1 + 8 + 15) / 16 * 16;
        return chunk < 32 ? 32 : chunk;
    }

    explicit l1_cache(std::size_t max_bytes);

    // The reply bytes held for `key`, or nullptr (absent, reserved only, or expired at `now`).
    std::shared_ptr<const std::string> find(std::string_view key, clock::time_point now);
    bool holds(std::string_view key, clock::time_point now);

    // Reserves `key`'s slot for a fill; returns the token (never 0), or 0 when the key is fenced,
    // when another read's reservation is live (it will fill for everyone: were each miss to take
    // the slot from the last, a key read more often than once per Redis round trip would never
    // fill), or when even an empty slot does not fit (a key longer than a shard's share).
    std::uint64_t reserve(std::string_view key);
    enum class fill_result { stored, voided, too_big };
    // Stores `reply` for `key` until `expires`, only while `token` still holds the slot.
    fill_result fill(std::string_view key, std::uint64_t token, std::string_view reply, clock::time_point expires);

    // Gives up a reservation that will not be filled (the read found no fresh value); an entry
    // or a newer reservation of the key is left alone.
    void cancel(std::string_view key, std::uint64_t token);
    // A write to `key` is on its way to Redis: until as many unfence() calls, the key is neither
    // served nor filled (fence() drops it, and reserve() refuses a fenced key). A read pipelined
    // behind the write on the same connection must not get the old value from here, even if
    // another read filled it meanwhile. unfence() drops the key again (the write has run: the
    // invalidation at its reply). Fences are counted per key, and
    // live only as long as writes are in flight (bounded by the connections' queues).
    void fence(std::string_view key);
    void unfence(std::string_view key);
    // Drops the key's entry or reservation; true if there was one.
    bool invalidate(std::string_view key);
    void clear();

    std::size_t bytes() const;
    std::size_t entries() const;  // values held (not reservations)
    std::uint64_t evictions() const { return evictions_.load(std::memory_order_relaxed); }
    std::size_t max_bytes() const { return shard_budget_ * shard_count; }

private:
    struct entry {
        std::string key;
        std::uint64_t token = 0;
        std::shared_ptr<const std::string> value;  // nullptr while reserved
        clock::time_point expires{};
        std::size_t charge = 0;
    };
    struct shard {
        mutable std::mutex mutex;
        std::list<entry> lru;  // front: most recently used
        std::unordered_map<std::string_view, std::list<entry>::iterator> index;  // views into lru keys
        std::size_t bytes = 0;
        std::size_t values = 0;
        // Writes in flight, by the key's 64-bit hash: fencing needs no copy of the key, and two
        // keys with one hash (about 2^-64 a pair) only fence each other a moment longer, which
        // is safe (a fenced key is neither served nor filled).
        std::unordered_map<std::uint64_t, int> fences;
    };
    static std::uint64_t hash_of(std::string_view key);
    shard& shard_of(std::uint64_t hash) { return shards_[hash % shard_count]; }
    void erase(shard& s, std::list<entry>::iterator it);
    bool make_room(shard& s, std::size_t charge);
    std::size_t sum(std::size_t shard::*field) const;  // over every shard, each under its lock

    std::size_t shard_budget_;
    std::array<shard, shard_count> shards_;
    std::atomic<std::uint64_t> next_token_{1};
    std::atomic<std::uint64_t> evictions_{0};
};

}  // namespace herdguard
