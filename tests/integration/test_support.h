// Helpers shared by the integration test files: running one command sequence through the proxy
// and directly against Redis and comparing replies, plus collecting failures from worker threads
// (Catch assertions are not thread-safe, so threads record and the test thread asserts).
#pragma once

#include <catch2/catch.hpp>
#include <mutex>
#include <string>
#include <vector>

#include "harness.h"

namespace herdguard::test {

// Two prefixes of equal length, so lengths in replies (STRLEN, GETRANGE...) cannot differ. Each
// is a hash tag: in front of a cluster, one side's keys share a slot, so the sequences' multi-key
// commands are legal there too.
inline constexpr const char* proxy_prefix = "{px}:";
inline constexpr const char* direct_prefix = "{dx}:";

using command = std::vector<std::string>;

inline std::string replace_all(std::string s, const std::string& from, const std::string& to) {
    if (from.empty()) return s;
    for (std::size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size()))
        s.replace(at, from.size(), to);
    return s;
}

// "{p}" in any argument stands for the key prefix.
inline command with_prefix(const command& cmd, const std::string& prefix) {
    command out;
    out.reserve(cmd.size());
    for (const auto& a : cmd) out.push_back(replace_all(a, "{p}", prefix));
    return out;
}

// Replies mention keys (SCAN, BLPOP, Lua KEYS...): map the prefix back to "{p}" to compare.
inline std::string normalise(const std::string& reply_text, const std::string& prefix) {
    return replace_all(reply_text, prefix, "{p}");
}

inline std::string show(const command& cmd) {
    std::string out;
    for (const auto& a : cmd) {
        if (!out.empty()) out += ' ';
        out += a;
    }
    return out;
}

// Runs the sequence one command at a time, alternating proxy then direct, so both key spaces go
// through the same states; CHECKs every reply pair and returns the proxy replies (normalised).
inline std::vector<std::string> compare_sequence(client& via_proxy, client& direct,
                                                 const std::vector<command>& sequence) {
    std::vector<std::string> replies;
    for (std::size_t i = 0; i < sequence.size(); ++i) {
        auto p = normalise(via_proxy.cmd(with_prefix(sequence[i], proxy_prefix)), proxy_prefix);
        auto d = normalise(direct.cmd(with_prefix(sequence[i], direct_prefix)), direct_prefix);
        INFO("command #" << i << ": " << show(sequence[i]));
        CHECK(p == d);
        replies.push_back(p);
    }
    return replies;
}

// Failures seen by worker threads, reported by the test thread.
class failure_log {
  public:
    void add(std::string what) {
        std::lock_guard lock(mu_);
        ++count_;
        if (samples_.size() < 10) samples_.push_back(std::move(what));
    }
    std::size_t count() const {
        std::lock_guard lock(mu_);
        return count_;
    }
    std::string summary() const {
        std::lock_guard lock(mu_);
        std::string out = std::to_string(count_) + " failure(s)";
        for (const auto& s : samples_) out += "\n  " + s;
        return out;
    }

  private:
    mutable std::mutex mu_;
    std::size_t count_ = 0;
    std::vector<std::string> samples_;
};

// Fails the test with the proxy's log tail if it died during the test.
inline void require_proxy_alive(proxy_stack& stack) {
    INFO("herdguard log tail:\n" << stack.proxy.log_tail());
    INFO(stack.proxy.describe_exit());
    REQUIRE(stack.proxy.running());
}

// A fresh proxy_stack; runs the sequence through the proxy and directly (compare_sequence), then
// checks the proxy is still alive.
inline void run_comparison(const std::vector<command>& sequence) {
    proxy_stack stack;
    auto via_proxy = stack.proxy_client();
    auto direct = stack.direct_client();
    compare_sequence(via_proxy, direct, sequence);
    require_proxy_alive(stack);
}

}  // namespace herdguard::test
