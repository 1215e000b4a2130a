// A worker's short memory of "this routed key is fresh in Redis until T".
//
// A routed GET needs the value's remaining life to tell fresh from stale, so it sends GET + PTTL:
// two commands for Redis where a plain GET is one. Within a window the worker has already seen
// to be fresh, GET alone is enough:
//  - the value GET returns is always Redis's current one (a write elsewhere is seen at once);
//  - a deleted or expired key reads nil and takes the miss path as before;
//  - only the fresh/stale verdict can lag, and only for a TTL shortened behind herdguard's back
//    (a client write through this worker forgets the key). Each entry lives at most
//    `max_horizon`, so that lag is bounded; after it, GET + PTTL looks again.
//
// Bounded and small, because every routed hit reads it: a table of `slots` entries of 16 bytes,
// four to a cache line (a key's line is chosen by its hash; within the line, a new key replaces
// the entry that ends first). An entry holds a 64-bit tag of the key's hash and its route, not
// the key, so a hit stores nothing on the heap. The default, 32,768 entries in 512 KB, holds a
// 10,000-key working set and stays in the core's cache: a 1.5 MB table made the lookup's cache
// and TLB misses 11% of a pipelined hit's cycles (perf, docs/BENCHMARKS.md issue 28). Two keys
// with the same tag (about 2^-64 a pair) share an entry; the cost is the bounded lag above for
// the other key, never a wrong value. Single-threaded: each worker owns one; nothing here locks.
//
// A write forgets its key, and finding the key's line is a cache miss too (the largest cost a
// routed SET added: issue 28). So each line also has a bit in a 1 KB bitmap per epoch of
// `max_horizon` (this one and the last): a line written in neither holds nothing alive, and a
// write to a key not read for two epochs looks no further.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace herdguard {

class fresh_memo {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds max_horizon{1000};
    static constexpr std::size_t default_slots = 32768;
    static constexpr std::size_t ways = 4;  // entries per cache line

    // `slots` is rounded up to a power of two of at least `ways`; 0 disables the memo.
    explicit fresh_memo(std::size_t slots = default_slots);

    // The key's hash, computed once per request and handed to the calls below.
    static std::uint64_t hash_of(std::string_view key);

    // Starts fetching the key's line into the cache, for a fresh() a little later.
    void prefetch(const void* owner, std::uint64_t key_hash) const {
        if (const line* l = line_of(tag_of(owner, key_hash))) __builtin_prefetch(l);
    }
    // True when the key was seen fresh for `owner` (a route) and that window is still open at `now`.
    bool fresh(const void* owner, std::uint64_t key_hash, clock::time_point now) const;
    // Remembers the key as fresh for `owner` until `until` (clamped to now + max_horizon).
    void remember(const void* owner, std::uint64_t key_hash, clock::time_point now, clock::time_point until);
    // Forgets the key for `owner` (a client wrote it, or GET found it gone).
    void forget(const void* owner, std::uint64_t key_hash, clock::time_point now);

    bool fresh(const void* owner, std::string_view key, clock::time_point now) const {
        return fresh(owner, hash_of(key), now);
    }
    void remember(const void* owner, std::string_view key, clock::time_point now, clock::time_point until) {
        remember(owner, hash_of(key), now, until);
    }
    void forget(const void* owner, std::string_view key, clock::time_point now = clock::now()) {
        forget(owner, hash_of(key), now);
    }

    std::size_t slots() const { return lines_.size() * ways; }

private:
    struct entry {
        std::uint64_t tag = 0;
        clock::rep until = 0;  // time_since_epoch().count(); 0: empty
    };
    struct alignas(64) line {
        entry e[ways];
    };
    // The route is mixed in, so one key of two routes (a reload) is two entries. Never 0 (empty).
    static std::uint64_t tag_of(const void* owner, std::uint64_t key_hash) {
        const std::uint64_t t = key_hash ^ (reinterpret_cast<std::uintptr_t>(owner) * 0x9E3779B97F4A7C15ull);
        return t == 0 ? 1 : t;
    }
    std::size_t index_of(std::uint64_t tag) const { return (tag >> 7) & mask_; }
    void roll(clock::time_point now);  // starts a new epoch when this one is over
    line* line_of(std::uint64_t tag) { return lines_.empty() ? nullptr : &lines_[index_of(tag)]; }
    const line* line_of(std::uint64_t tag) const { return lines_.empty() ? nullptr : &lines_[index_of(tag)]; }

    std::vector<line> lines_;
    std::uint64_t mask_ = 0;
    // One bit per line: remembered into during this epoch ([current_]) or the last.
    std::vector<std::uint64_t> written_[2];
    int current_ = 0;
    clock::rep epoch_end_ = 0;
};

}  // namespace herdguard
