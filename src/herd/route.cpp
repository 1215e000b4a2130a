#include "herdguard/herd/route.h"

#include <charconv>

namespace herdguard {

key_pattern::key_pattern(std::string glob) : glob_(std::move(glob)) {}

namespace {

// Literal segments in order, each placed at its earliest position after the one before; the last
// must end the key. With '*' as the only wildcard, the earliest placement never rules out a
// match, and it gives each star its shortest capture, as backtracking that tries shortest first
// would. No backtracking, so O(key x pattern) whatever the key: a backtracking matcher is
// polynomial in the key with the number of stars as exponent, and keys come from clients.
bool match_glob(std::string_view pat, std::string_view key, std::vector<std::string_view>* caps) {
    std::size_t star = pat.find('*');
    if (star == std::string_view::npos) return pat == key;
    if (key.substr(0, star) != pat.substr(0, star)) return false;
    std::size_t pos = star;
    pat.remove_prefix(star + 1);
    for (;;) {
        const std::size_t next = pat.find('*');
        if (next == std::string_view::npos) {  // the last segment ends the key
            if (key.size() < pos + pat.size() || key.substr(key.size() - pat.size()) != pat) return false;
            if (caps) caps->push_back(key.substr(pos, key.size() - pat.size() - pos));
            return true;
        }
        const std::size_t at = key.find(pat.substr(0, next), pos);
        if (at == std::string_view::npos) return false;
        if (caps) caps->push_back(key.substr(pos, at - pos));
        pos = at + next;
        pat.remove_prefix(next + 1);
    }
}

}  // namespace

bool key_pattern::match(std::string_view key, std::vector<std::string_view>* captures) const {
    if (captures) captures->clear();
    const bool matched = match_glob(glob_, key, captures);
    if (!matched && captures) captures->clear();
    return matched;
}

std::optional<upstream_url> parse_upstream_url(std::string_view url) {
    constexpr std::string_view scheme = "http://";
    if (url.substr(0, scheme.size()) != scheme) return std::nullopt;
    url.remove_prefix(scheme.size());
    std::size_t path_start = url.find_first_of("/?#");
    std::string_view authority = url.substr(0, path_start);
    upstream_url out;
    out.target_template = path_start == std::string_view::npos ? "/" : std::string(url.substr(path_start));
    if (out.target_template.front() != '/') out.target_template = "/" + out.target_template;
    std::string_view host = authority;
    std::string_view port;
    if (!authority.empty() && authority.front() == '[') {
        std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return std::nullopt;
        host = authority.substr(1, close - 1);
        if (close + 1 < authority.size() && authority[close + 1] == ':') port = authority.substr(close + 2);
    } else if (std::size_t colon = authority.find(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
    }
    if (host.empty()) return std::nullopt;
    out.host = std::string(host);
    if (!port.empty()) {
        unsigned value = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
        if (ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535)
            return std::nullopt;
        out.port = static_cast<std::uint16_t>(value);
    }
    return out;
}

std::string percent_encode(std::string_view value) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size() * 3);
    for (unsigned char c : value) {
        bool keep = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
                    c == '_' || c == '~';
        if (keep) {
            out.push_back(static_cast<char>(c));
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 15]);
        }
    }
    return out;
}

std::string expand_target(std::string_view tpl, std::string_view key, const std::vector<std::string_view>& captures) {
    std::string out;
    out.reserve(tpl.size() + key.size() * 3);
    for (std::size_t i = 0; i < tpl.size(); ++i) {
        if (tpl[i] != '{') {
            out.push_back(tpl[i]);
            continue;
        }
        std::size_t close = tpl.find('}', i);
        if (close == std::string_view::npos) {
            out.append(tpl.substr(i));
            break;
        }
        std::string_view name = tpl.substr(i + 1, close - i - 1);
        if (name == "key") {
            out += percent_encode(key);
        } else {
            unsigned n = 0;
            auto [end, ec] = std::from_chars(name.data(), name.data() + name.size(), n);
            if (ec == std::errc{} && end == name.data() + name.size() && n >= 1 && n <= captures.size())
                out += percent_encode(captures[n - 1]);
        }
        i = close;
    }
    return out;
}

}  // namespace herdguard
