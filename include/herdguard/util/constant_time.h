// Secret comparison whose time does not depend on where two strings first differ, so a client
// cannot find a password byte by byte by timing AUTH.
#pragma once

#include <algorithm>
#include <string_view>

namespace herdguard {

inline bool constant_time_equals(std::string_view a, std::string_view b) {
    const std::size_t n = std::max(a.size(), b.size());
    unsigned diff = a.size() != b.size() ? 1u : 0u;
    for (std::size_t i = 0; i < n; ++i) {
        const auto x = static_cast<unsigned char>(i < a.size() ? a[i] : 0);
        const auto y = static_cast<unsigned char>(i < b.size() ? b[i] : 0);
        diff |= static_cast<unsigned>(x ^ y);
    }
    return diff == 0;
}

}  // namespace herdguard
