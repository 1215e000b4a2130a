// Helpers the read-through tests (test_read_through_*.cpp) share: the prefix of an "upstream
// unavailable" error, PTTL read directly from Redis, the slowest of a crowd's replies, a check
// that every herdguard that should be running is, and printable bytes for failure messages.
#pragma once

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include "harness.h"
#include "shared_helpers.h"

namespace herdguard::test {

// "-ERR herdguard: upstream 'products' unavailable (<why>)" starts with this.
inline const std::string unavailable_prefix = "-ERR herdguard: upstream 'products' unavailable (";

inline long long pttl(client& direct, const std::string& key) {
    auto r = direct.cmd_reply({"PTTL", key});
    if (r.type != reply::kind::integer) throw harness_error("PTTL " + key + ": " + r.canonical());
    return r.integer;
}

inline long long slowest(const std::vector<crowd_reply>& replies) {
    long long worst = 0;
    for (const auto& r : replies) worst = std::max<long long>(worst, r.latency.count());
    return worst;
}

// Fails the test with every log tail if any herdguard that should be running died.
inline void require_alive(herd_stack& stack, std::initializer_list<std::size_t> which = {}) {
    std::vector<std::size_t> idx(which);
    if (idx.empty())
        for (std::size_t i = 0; i < stack.proxies.size(); ++i) idx.push_back(i);
    for (auto i : idx) {
        INFO("herdguard #" << i << ":\n" << stack.logs());
        REQUIRE(stack.proxy(i).running());
    }
}

inline std::string printable(std::string_view s) {
    std::string out;
    for (unsigned char c : s) {
        if (c >= 0x20 && c < 0x7f && c != '\\') {
            out.push_back(static_cast<char>(c));
        } else {
            static constexpr char hex[] = "0123456789abcdef";
            out += "\\x";
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

}  // namespace herdguard::test
