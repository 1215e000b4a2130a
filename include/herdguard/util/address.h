// A listen or connect address: "host:port", "[v6]:port" or "unix:/path".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herdguard {

struct address {
    bool is_unix = false;
    std::string host;  // or the socket path when is_unix
    std::uint16_t port = 0;

    std::string to_string() const;
    friend bool operator==(const address&, const address&) = default;
};

// Returns nullopt and fills `why` when the text is not a valid address.
std::optional<address> parse_address(std::string_view text, std::string* why = nullptr);

// A byte allowed in a host name (letters, digits, '.', '-', '_') or, `bracketed`, in an IPv6
// literal between '[' and ']' (hex digits, ':', '%' for a zone).
constexpr bool is_host_char(char c, bool bracketed) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
    if (c == '.' || c == '-') return true;
    return bracketed ? (c == ':' || c == '%') : c == '_';
}

}  // namespace herdguard
