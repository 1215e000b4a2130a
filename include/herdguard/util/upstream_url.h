// A route's upstream: "http://host[:port]/path?query" whose path and query may name the key's
// captures {1}, {2}... and the whole key {key}. One parser for config validation and for the
// loader, and one reading of the placeholders for validation and for expansion, so what
// --check accepts is exactly what a load requests.
//
// Every substituted value is percent-encoded (all but A-Z a-z 0-9 - _ ~), so no key can add a
// '/', '?', '#', '@', '..' segment, CR/LF or NUL to the request: it stays inside its path segment
// or query value, and scheme, host and port are fixed by the config.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace herdguard {

struct upstream_url {
    std::string host;
    std::uint16_t port = 80;
    std::string target_template;  // path and query, with placeholders
};

// Splits and checks an upstream URL. On failure returns nullopt and, if `problem` is given, says
// why in the words config validation reports ("missing host in \"http:///p\""). With `match`
// (the route's key glob), each {N} must name one of its captures.
std::optional<upstream_url> parse_upstream_url(std::string_view url, std::string* problem = nullptr,
                                               std::optional<std::string_view> match = std::nullopt);

// RFC 3986 percent-encoding of everything but unreserved letters, digits, '-', '_' and '~'.
// '.' is encoded too, so a capture of ".." can never become a dot-segment.
std::string percent_encode(std::string_view value);

// Fills the template's placeholders. Templates were checked by parse_upstream_url at config
// load; here an out-of-range {N} expands to nothing.
std::string expand_target(std::string_view target_template, std::string_view key,
                          const std::vector<std::string_view>& captures);

}  // namespace herdguard
