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
// Bounded: a fixed table of `slots` entries (direct-mapped: a newer key evicts an older one in
// its slot), keys up to `max_key_bytes` (longer keys are not remembered). Single-threaded: each
// worker owns one, so nothing here locks.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace herdguard {

class fresh_memo {
public:
    using clock = std::chrono::steady_clock;
    static constexpr std::chrono::milliseconds max_horizon{1000};
    static constexpr std::size_t max_key_bytes = 256;

    // `slots` is rounded up to a power of two; 0 disables the memo.
    explicit fresh_memo(std::size_t slots = 4096);

    // True when `key` was seen fresh for `owner` (a route) and that window is still open at `now`.
    bool fresh(const void* owner, std::string_view key, clock::time_point now) const;
    // Remembers `key` as fresh until `until` (clamped to now + max_horizon).
    void remember(const void* owner, std::string_view key, clock::time_point now, clock::time_point until);
    // Forgets `key` (a client wrote it, or GET found it gone).
    void forget(std::string_view key);

    std::size_t slots() const { return entries_.size(); }

private:
    struct entry {
        std::string key;
        const void* owner = nullptr;
        clock::time_point until{};
    };
    entry* find_slot(std::string_view key);
    const entry* find_slot(std::string_view key) const;

    std::vector<entry> entries_;
};

}  // namespace herdguard
