// Which keys a route covers, and the upstream URL a key loads from.
//
// Patterns are globs where each '*' matches any run of bytes (shortest first) and is a capture;
// every other byte is literal. The URL template names captures {1}, {2}... and the whole key
// {key}. Every substituted value is percent-encoded (all but A-Z a-z 0-9 - _ ~), so no key can
// add a '/', '?', '#', '@', '..' segment, CR/LF or NUL to the request: it stays inside its path
// segment or query value, and scheme, host and port are fixed by the config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

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

struct upstream_url {
    std::string host;
    std::uint16_t port = 80;
    std::string target_template;  // path and query, with placeholders
};

// Splits a validated "http://host[:port]/path?query" (see config validation).
std::optional<upstream_url> parse_upstream_url(std::string_view url);

// RFC 3986 percent-encoding of everything but unreserved letters, digits, '-', '_' and '~'.
// '.' is encoded too, so a capture of ".." can never become a dot-segment.
std::string percent_encode(std::string_view value);

// Fills the template's placeholders. Unknown placeholders were rejected at config load; here an
// out-of-range {N} expands to nothing.
std::string expand_target(std::string_view target_template, std::string_view key,
                          const std::vector<std::string_view>& captures);

}  // namespace herdguard
