#include "herdguard/stats/hot_keys.h"

#include <algorithm>
#include <map>

#include "herdguard/util/random.h"
#include "herdguard/util/strings.h"

namespace herdguard {

void space_saving::add(std::string_view key) {
    if (capacity_ == 0) return;
    if (auto it = index_.find(key); it != index_.end()) {
        ++entries_[it->second].count;
        return;
    }
    std::string k(key);
    if (entries_.size() < capacity_) {
        index_.emplace(k, entries_.size());
        entries_.push_back({std::move(k), 1, 0});
        return;
    }
    // The smallest counter goes to the new key, which inherits its count as its error. A linear
    // scan: capacity is small, and only a sampled read of an uncounted key gets here.
    auto smallest = std::min_element(entries_.begin(), entries_.end(),
                                     [](const hot_key& a, const hot_key& b) { return a.count < b.count; });
    const std::size_t at = static_cast<std::size_t>(smallest - entries_.begin());
    index_.erase(smallest->key);
    smallest->error = smallest->count;
    smallest->count += 1;
    smallest->key = k;
    index_.emplace(std::move(k), at);
}

std::vector<hot_key> space_saving::top(std::size_t n) const {
    std::vector<hot_key> out(entries_);
    std::sort(out.begin(), out.end(), [](const hot_key& a, const hot_key& b) {
        return a.count != b.count ? a.count > b.count : a.key < b.key;
    });
    if (out.size() > n) out.resize(n);
    return out;
}

void space_saving::clear() {
    entries_.clear();
    index_.clear();
}

void hot_key_sampler::rearm() {
    // Uniform on [1, 2 * sample_every - 1]: mean sample_every.
    countdown_ = 1 + static_cast<std::uint32_t>(thread_random() % (2 * sample_every - 1));
}

void hot_key_sampler::sample(const std::vector<std::string_view>& argv) {
    rearm();
    if (argv.size() == 2 && iequals(argv[0], "get")) {
        summary_.add(argv[1]);
    } else if (argv.size() >= 2 && iequals(argv[0], "mget")) {
        for (std::size_t i = 1; i < argv.size(); ++i) summary_.add(argv[i]);
    }
}

void hot_key_board::publish(std::size_t worker, std::vector<hot_key> keys) {
    auto& s = slots_.at(worker);
    std::lock_guard lock(s.mutex);
    s.keys = std::move(keys);
}

std::vector<hot_key_board::rate> hot_key_board::top(std::size_t n) const {
    std::map<std::string, std::uint64_t> merged;
    for (const auto& s : slots_) {
        std::lock_guard lock(s.mutex);
        for (const auto& k : s.keys) merged[k.key] += k.count;
    }
    std::vector<rate> out;
    out.reserve(merged.size());
    for (auto& [key, count] : merged)
        out.push_back({key, static_cast<double>(count) * hot_key_sampler::sample_every});
    std::sort(out.begin(), out.end(), [](const rate& a, const rate& b) {
        return a.reads_per_second != b.reads_per_second ? a.reads_per_second > b.reads_per_second : a.key < b.key;
    });
    if (out.size() > n) out.resize(n);
    return out;
}

}  // namespace herdguard
