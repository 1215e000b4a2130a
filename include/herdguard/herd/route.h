// Which keys a route covers: globs where each '*' matches any run of bytes (shortest first) and
// is a capture; every other byte is literal. The captures fill the route's upstream URL template
// (util/upstream_url.h).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/util/upstream_url.h"

namespace herdguard {

class key_pattern {
public:
    explicit key_pattern(std::string glob);
    // True when `key` matches; `captures` (if given) receives one view per '*', into `key`.
    bool match(std::string_view key, std::vector<std::string_view>* captures = nullptr) const;
    const std::string& glob() const { return glob_; }

private:
    std::string glob_;
};

}  // namespace herdguard
