#include "herdguard/util/address.h"

#include <fmt/format.h>
#include <sys/un.h>

#include <charconv>

namespace herdguard {
namespace {

constexpr std::string_view unix_prefix = "unix:";

std::optional<address> fail(std::string* why, std::string message) {
    if (why) *why = std::move(message);
    return std::nullopt;
}

bool has_space(std::string_view s) {
    for (char c : s) {
        if (c == ' ' || c == '\t' || c == '\n' || c == '\r') return true;
    }
    return false;
}

std::optional<std::uint16_t> parse_port(std::string_view port_text, std::string_view text,
                                        std::string* why) {
    if (port_text.empty()) {
        fail(why, fmt::format("missing port in \"{}\"", text));
        return std::nullopt;
    }
    unsigned value = 0;
    const char* last = port_text.data() + port_text.size();
    auto [end, ec] = std::from_chars(port_text.data(), last, value);
    if (end != last || ec != std::errc{}) {
        if (ec == std::errc::result_out_of_range) {
            fail(why, fmt::format("port {} out of range (1-65535) in \"{}\"", port_text, text));
        } else {
            fail(why, fmt::format("port \"{}\" is not a number in \"{}\"", port_text, text));
        }
        return std::nullopt;
    }
    if (value < 1 || value > 65535) {
        fail(why, fmt::format("port {} out of range (1-65535) in \"{}\"", value, text));
        return std::nullopt;
    }
    return static_cast<std::uint16_t>(value);
}

}  // namespace

std::string address::to_string() const {
    if (is_unix) return fmt::format("unix:{}", host);
    // A bare IPv6 literal would be ambiguous with the port separator.
    if (host.find(':') != std::string::npos) return fmt::format("[{}]:{}", host, port);
    return fmt::format("{}:{}", host, port);
}

std::optional<address> parse_address(std::string_view text, std::string* why) {
    if (text.empty()) return fail(why, "empty address (expected host:port or unix:/path)");
    if (has_space(text)) return fail(why, fmt::format("whitespace in address \"{}\"", text));

    if (text.substr(0, unix_prefix.size()) == unix_prefix) {
        std::string_view path = text.substr(unix_prefix.size());
        if (path.empty()) return fail(why, fmt::format("missing socket path in \"{}\"", text));
        if (path.front() != '/') {
            // Relative paths would depend on the working directory of whoever starts us.
            return fail(why, fmt::format("unix socket path must be absolute in \"{}\"", text));
        }
        // The kernel silently truncates longer paths, so two services could collide.
        constexpr std::size_t max_path = sizeof(sockaddr_un{}.sun_path) - 1;
        if (path.size() > max_path) {
            return fail(why, fmt::format("unix socket path longer than {} bytes in \"{}\"",
                                         max_path, text));
        }
        return address{true, std::string(path), 0};
    }

    std::string_view host;
    std::string_view port_text;
    if (text.front() == '[') {
        auto close = text.find(']');
        if (close == std::string_view::npos) {
            return fail(why, fmt::format("missing ']' in \"{}\"", text));
        }
        host = text.substr(1, close - 1);
        if (host.empty()) return fail(why, fmt::format("missing host in \"{}\"", text));
        std::string_view rest = text.substr(close + 1);
        if (rest.empty()) return fail(why, fmt::format("missing port in \"{}\"", text));
        if (rest.front() != ':') {
            return fail(why, fmt::format("expected ':' after ']' in \"{}\"", text));
        }
        port_text = rest.substr(1);
    } else {
        auto colon = text.rfind(':');
        if (colon == std::string_view::npos) {
            return fail(why, fmt::format("missing port in \"{}\" (expected host:port)", text));
        }
        host = text.substr(0, colon);
        port_text = text.substr(colon + 1);
        if (host.empty()) return fail(why, fmt::format("missing host in \"{}\"", text));
        if (host.find(':') != std::string_view::npos) {
            return fail(
                why,
                fmt::format("IPv6 address needs brackets, as in \"[::1]:6379\", in \"{}\"", text));
        }
        if (host.find_first_of("[]") != std::string_view::npos) {
            return fail(why, fmt::format("misplaced bracket in \"{}\"", text));
        }
    }

    auto port = parse_port(port_text, text, why);
    if (!port) return std::nullopt;
    return address{false, std::string(host), *port};
}

}  // namespace herdguard
