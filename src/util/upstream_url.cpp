#include "herdguard/util/upstream_url.h"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "herdguard/util/address.h"

namespace herdguard {

namespace {

// One placeholder of a target template: {key}, or {N} with N from_chars-parsed.
struct placeholder {
    std::string_view name;
    bool is_key = false;
    unsigned long number = 0;  // valid when !is_key
};

enum class template_error { none, unbalanced_open, unbalanced_close, unknown_name };

// Walks a target template from the start: calls literal(text) for each run of literal bytes and
// hole(placeholder) for each placeholder, in order, and stops at the first syntax error, which
// it returns together with the offending name (for unknown_name). The only reader of template
// syntax: validation and expansion cannot disagree on it.
template <class Literal, class Hole>
template_error walk_template(std::string_view tpl, Literal&& literal, Hole&& hole, std::string_view* bad_name = nullptr) {
    std::size_t i = 0;
    while (i < tpl.size()) {
        const std::size_t brace = tpl.find_first_of("{}", i);
        if (brace == std::string_view::npos) {
            literal(tpl.substr(i));
            break;
        }
        if (brace > i) literal(tpl.substr(i, brace - i));
        if (tpl[brace] == '}') return template_error::unbalanced_close;
        const std::size_t close = tpl.find_first_of("{}", brace + 1);
        if (close == std::string_view::npos || tpl[close] == '{') return template_error::unbalanced_open;
        placeholder p;
        p.name = tpl.substr(brace + 1, close - brace - 1);
        if (p.name == "key") {
            p.is_key = true;
        } else {
            const char* last = p.name.data() + p.name.size();
            auto [end, ec] = std::from_chars(p.name.data(), last, p.number);
            if (p.name.empty() || end != last || ec != std::errc{}) {
                if (bad_name) *bad_name = p.name;
                return template_error::unknown_name;
            }
        }
        if (!hole(p)) return template_error::none;
        i = close + 1;
    }
    return template_error::none;
}

std::optional<upstream_url> fail(std::string* problem, std::string text) {
    if (problem) *problem = std::move(text);
    return std::nullopt;
}

// "host[:port]" or "[v6]:port" into `out`: "" or the problem.
std::string parse_authority(std::string_view url, std::string_view authority, upstream_url& out) {
    std::string_view host = authority;
    std::string_view port;
    bool has_port = false;
    const bool bracketed = !authority.empty() && authority.front() == '[';
    if (bracketed) {
        const std::size_t close = authority.find(']');
        if (close == std::string_view::npos) return fmt::format("missing ']' in \"{}\"", url);
        host = authority.substr(1, close - 1);
        const std::string_view after = authority.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return fmt::format("expected ':' after ']' in \"{}\"", url);
            port = after.substr(1);
            has_port = true;
        }
    } else if (const std::size_t colon = authority.find(':'); colon != std::string_view::npos) {
        host = authority.substr(0, colon);
        port = authority.substr(colon + 1);
        has_port = true;
    }
    if (host.empty()) return fmt::format("missing host in \"{}\"", url);
    for (char c : host) {
        if (!is_host_char(c, bracketed)) return fmt::format("invalid character '{}' in host of \"{}\"", c, url);
    }
    out.host = std::string(host);
    if (has_port) {
        unsigned value = 0;
        const char* last = port.data() + port.size();
        auto [end, ec] = std::from_chars(port.data(), last, value);
        if (port.empty() || end != last || ec != std::errc{} || value < 1 || value > 65535)
            return fmt::format("port \"{}\" must be a number from 1 to 65535 in \"{}\"", port, url);
        out.port = static_cast<std::uint16_t>(value);
    }
    return "";
}

}  // namespace

// Placeholders are allowed only after the host: a key chosen by a client must never decide which
// machine we connect to.
std::optional<upstream_url> parse_upstream_url(std::string_view url, std::string* problem,
                                               std::optional<std::string_view> match) {
    constexpr std::string_view scheme = "http://";
    if (url.empty()) return fail(problem, "must not be empty");
    if (url.substr(0, 8) == "https://") return fail(problem, fmt::format("https is not supported, use http:// in \"{}\"", url));
    if (url.substr(0, scheme.size()) != scheme) return fail(problem, fmt::format("must start with http://, got \"{}\"", url));

    const std::string_view rest = url.substr(scheme.size());
    const std::size_t path_start = rest.find_first_of("/?#");
    const std::string_view authority = rest.substr(0, path_start);
    const std::string_view path = path_start == std::string_view::npos ? std::string_view{} : rest.substr(path_start);
    if (authority.find_first_of("{}") != std::string_view::npos)
        return fail(problem, fmt::format("placeholders are only allowed after the host in \"{}\"", url));

    upstream_url out;
    if (std::string why = parse_authority(url, authority, out); !why.empty()) return fail(problem, std::move(why));

    const auto captures =
        match ? static_cast<unsigned long>(std::count(match->begin(), match->end(), '*')) : 0UL;
    std::string range_problem;
    std::string_view bad_name;
    const template_error syntax = walk_template(
        path, [](std::string_view) {},
        [&](const placeholder& p) {
            if (!match || p.is_key || (p.number >= 1 && p.number <= captures)) return true;
            range_problem = fmt::format("placeholder {{{}}} out of range: match \"{}\" has {} capture(s)", p.name,
                                        *match, captures);
            return false;
        },
        &bad_name);
    switch (syntax) {
        case template_error::unbalanced_close:
            return fail(problem, fmt::format("unbalanced '}}' in \"{}\"", url));
        case template_error::unbalanced_open:
            return fail(problem, fmt::format("unbalanced '{{' in \"{}\"", url));
        case template_error::unknown_name:
            return fail(problem, fmt::format("unknown placeholder {{{}}} in \"{}\" (use {{key}} or {{1}}, {{2}}, ...)",
                                             bad_name, url));
        case template_error::none:
            break;
    }
    if (!range_problem.empty()) return fail(problem, std::move(range_problem));

    out.target_template = path.empty() ? "/" : std::string(path);
    if (out.target_template.front() != '/') out.target_template = "/" + out.target_template;
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
    walk_template(
        tpl, [&](std::string_view text) { out.append(text); },
        [&](const placeholder& p) {
            if (p.is_key) out += percent_encode(key);
            else if (p.number >= 1 && p.number <= captures.size()) out += percent_encode(captures[p.number - 1]);
            return true;
        });
    return out;
}

}  // namespace herdguard
