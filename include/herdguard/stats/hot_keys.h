// Hot-key detection: which keys clients read most, with a bounded memory whatever the key space.
//
// space_saving is the Space-Saving algorithm of Metwally, Agrawal and El Abbadi, "Efficient
// Computation of Frequent and Top-k Elements in Data Streams" (ICDT 2005): `capacity` counters;
// a key not counted yet takes over the smallest counter, inheriting its count as its error. Every
// key read more than N / capacity times (N: reads counted) is in the summary, and each count
// over-estimates its key's true reads by at most its `error` (count - error <= true <= count).
//
// A worker feeds its own summary with a sample of its reads (hot_key_sampler: one command in
// `sample_every` on average), publishes it once a second to its board slot and starts afresh;
// hot_key_board merges the slots (summing counts, as Space-Saving summaries merge) into reads
// per second. Single-threaded per worker; the board takes a mutex per slot, once a second.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace herdguard {

struct hot_key {
    std::string key;
    std::uint64_t count = 0;  // reads counted (an over-estimate by at most `error`)
    std::uint64_t error = 0;
};

class space_saving {
public:
    explicit space_saving(std::size_t capacity) : capacity_(capacity) {}
    void add(std::string_view key);
    // The counted keys, largest count first; at most `n`.
    std::vector<hot_key> top(std::size_t n) const;
    std::size_t size() const { return entries_.size(); }
    void clear();

private:
    std::size_t capacity_;
    std::vector<hot_key> entries_;
    // key -> position in entries_; looked up by string_view (no copy of the key on a hit).
    struct key_hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view k) const { return std::hash<std::string_view>{}(k); }
    };
    std::unordered_map<std::string, std::size_t, key_hash, std::equal_to<>> index_;
};

// One worker's sampling: the session calls tick() per command, and sample() when it says so.
class hot_key_sampler {
public:
    // One command in 64: a key read 1,000 times a second is sampled ~16 times a second, plenty to
    // rank it, and the hot path pays a decrement per command (callgrind: 1 in 16 cost ~2%).
    static constexpr std::uint32_t sample_every = 64;
    static constexpr std::size_t capacity = 256;

    // True once in `sample_every` commands on average (a random countdown, so a client's
    // pipeline of a fixed length cannot hide a key between samples).
    bool tick() { return --countdown_ == 0; }
    // The sampled command: its keys count when it is a read (GET, MGET).
    void sample(const std::vector<std::string_view>& argv);
    space_saving& summary() { return summary_; }

private:
    void rearm();
    std::uint32_t countdown_ = sample_every;
    space_saving summary_{capacity};
};

// The workers' last published second, merged on demand (HERDGUARD HOTKEYS, /metrics).
class hot_key_board {
public:
    explicit hot_key_board(std::size_t workers) : slots_(workers) {}
    // A worker's summary of its last second (sampled counts), replacing the previous one.
    void publish(std::size_t worker, std::vector<hot_key> keys);
    struct rate {
        std::string key;
        double reads_per_second;  // estimated: sampled count * sample_every, summed over workers
    };
    std::vector<rate> top(std::size_t n) const;

private:
    struct slot {
        mutable std::mutex mutex;
        std::vector<hot_key> keys;
    };
    std::vector<slot> slots_;
};

}  // namespace herdguard
