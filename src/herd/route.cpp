#include "herdguard/herd/route.h"

#include <charconv>

namespace herdguard {

key_pattern::key_pattern(std::string glob) : glob_(std::move(glob)) {}

namespace {

// Recursive backtracking over '*'; depth is bounded by the number of stars in the pattern
// (config patterns are short), and each star tries the shortest match first.
bool match_from(std::string_view pat, std::string_view key, std::vector<std::string_view>* caps) {
    while (!pat.empty() && pat.front() != '*') {
        if (key.empty() || key.front() != pat.front()) return false;
        pat.remove_prefix(1);
        key.remove_prefix(1);
    }
    if (pat.empty()) return key.empty();
    pat.remove_prefix(1);  // the '*'
    std::size_t mark = caps ? caps->size() : 0;
    if (pat.empty()) {  // trailing star takes the rest
        if (caps) caps->push_back(key);
        return true;
    }
    for (std::size_t n = 0; n <= key.size(); ++n) {
        if (caps) {
            caps->resize(mark);
            caps->push_back(key.substr(0, n));
        }
        if (match_from(pat, key.substr(n), caps)) return true;
    }
    if (caps) caps->resize(mark);
    return false;
}

}  // namespace

bool key_pattern::match(std::string_view key, std::vector<std::string_view>* captures) const {
    if (captures) captures->clear();
    return match_from(glob_, key, captures);
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
