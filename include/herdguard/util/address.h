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

}  // namespace herdguard
