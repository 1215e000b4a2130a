// Small helpers the read-through, operations and fault tests share: a steady clock and the
// milliseconds since a point on it, the demo upstream's answer for a path, and how many of a
// crowd's replies have a given text.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <string>
#include <vector>

#include "harness.h"

namespace herdguard::test {

using steady = std::chrono::steady_clock;

// The demo upstream's answer to the n-th request for `path`, as a canonical bulk reply.
inline std::string value_of(const std::string& path, int n = 1) {
    return "$value:" + path + "#" + std::to_string(n);
}

inline long long ms_since(steady::time_point t0) {
    return std::chrono::duration_cast<milliseconds>(steady::now() - t0).count();
}

inline std::size_t count_of(const std::vector<crowd_reply>& replies, const std::string& text) {
    return static_cast<std::size_t>(std::count_if(
        replies.begin(), replies.end(), [&](const crowd_reply& r) { return r.text == text; }));
}

}  // namespace herdguard::test
