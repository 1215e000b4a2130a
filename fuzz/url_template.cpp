// libFuzzer target: key_pattern / expand_target / parse_upstream_url (src/herd/route.cpp,
// src/util/upstream_url.cpp):
// the SSRF property of URL templating. A client picks the key; it must never pick anything but
// the bytes of its own path segment or query value.
//
// Input layout: byte 0 picks a route (pattern x template) and whether the key is taken as is
// or built to match the pattern, byte 1 is where the key material is split between two stars,
// the rest is the key material.
//
// Properties (abort() on violation), for any key bytes:
//   - a key built from the pattern matches it; whenever a key matches, the captures are views
//     into the key and putting them back into the pattern gives the key again;
//   - the expanded target has exactly the template's '/', '?', '&', '=' (count), never '#' or
//     '.', and only printable ASCII 0x21..0x7e;
//   - it is the template's literal text with, at each placeholder, a run of unreserved bytes
//     and %HH escapes that decodes back to exactly that capture (or the key, or nothing for an
//     out-of-range {N});
//   - "http://h:1" + target parses as host "h", port 1 and that very target: scheme, host and
//     port are the config's.
// The raw key bytes are also given to parse_upstream_url, which must not crash and, when it
// accepts them, give a non-empty host, a non-zero port and a target starting with '/'.
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "herdguard/herd/route.h"

namespace {

constexpr std::array<std::string_view, 5> k_patterns = {"product:*", "a:*:b:*", "*", "user:*:post:*", "exact"};
constexpr std::array<std::string_view, 6> k_templates = {
    "/products/{1}", "/a/{1}/b/{2}?k={key}&x=1", "/q?v={key}", "/{key}", "/x/{1}/{2}/{3}", "/"};

struct piece {
    bool placeholder;
    std::string_view text;  // literal text, or the placeholder name
};

std::vector<piece> split_template(std::string_view tpl) {
    std::vector<piece> out;
    std::size_t i = 0;
    while (i < tpl.size()) {
        std::size_t open = tpl.find('{', i);
        if (open == std::string_view::npos) {
            out.push_back({false, tpl.substr(i)});
            break;
        }
        if (open > i) out.push_back({false, tpl.substr(i, open - i)});
        std::size_t close = tpl.find('}', open);
        out.push_back({true, tpl.substr(open + 1, close - open - 1)});
        i = close + 1;
    }
    return out;
}

bool unreserved(char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '~';
}

int hex_digit(char c) {  // upper-case only: that is what percent_encode writes
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Reads one encoded value at `pos`: unreserved bytes and %HH, up to the first other byte.
std::string decode_run(std::string_view s, std::size_t& pos) {
    std::string out;
    while (pos < s.size()) {
        char c = s[pos];
        if (unreserved(c)) {
            out.push_back(c);
            ++pos;
        } else if (c == '%') {
            FUZZ_CHECK(pos + 2 < s.size());  // a whole %HH
            int hi = hex_digit(s[pos + 1]);
            int lo = hex_digit(s[pos + 2]);
            FUZZ_CHECK(hi >= 0 && lo >= 0);
            const char decoded = static_cast<char>(hi * 16 + lo);
            FUZZ_CHECK(!unreserved(decoded));  // unreserved bytes are never escaped
            out.push_back(decoded);
            pos += 3;
        } else {
            break;
        }
    }
    return out;
}

std::size_t count(std::string_view s, char c) {
    std::size_t n = 0;
    for (char x : s) n += x == c;
    return n;
}

std::string_view value_for(std::string_view name, std::string_view key, const std::vector<std::string_view>& caps) {
    if (name == "key") return key;
    std::size_t n = static_cast<std::size_t>(name[0] - '0');  // the fixed templates use {1}..{3}
    return n >= 1 && n <= caps.size() ? caps[n - 1] : std::string_view{};
}

void check_target(std::string_view tpl, std::string_view key, const std::vector<std::string_view>& caps) {
    const std::string target = herdguard::expand_target(tpl, key, caps);
    const auto pieces = split_template(tpl);
    std::string literal;
    for (const auto& p : pieces)
        if (!p.placeholder) literal += p.text;

    // Structure: separators only where the template has them.
    for (char c : {'/', '?', '&', '=', '#', '.', '@', ':', ';', '+', ',', '%'}) {
        if (c == '%') continue;  // escapes are checked by decoding below
        if (count(target, c) != count(literal, c)) {
            std::fprintf(stderr, "'%c' count %zu in target vs %zu in template %.*s\n", c, count(target, c),
                         count(literal, c), static_cast<int>(tpl.size()), tpl.data());
            FUZZ_CHECK(!"template structure kept");
        }
    }
    FUZZ_CHECK(target.find('#') == std::string::npos);
    for (unsigned char c : target) FUZZ_CHECK(c >= 0x21 && c <= 0x7e);

    // Literal text in place, each value decodes back to itself.
    std::size_t pos = 0;
    for (const auto& p : pieces) {
        if (!p.placeholder) {
            FUZZ_CHECK(std::string_view(target).substr(pos, p.text.size()) == p.text);
            pos += p.text.size();
        } else {
            std::string decoded = decode_run(target, pos);
            FUZZ_CHECK(decoded == value_for(p.text, key, caps));
        }
    }
    FUZZ_CHECK(pos == target.size());

    // Scheme, host and port stay the config's.
    auto url = herdguard::parse_upstream_url("http://h:1" + target);
    FUZZ_CHECK(url.has_value());
    FUZZ_CHECK(url->host == "h");
    FUZZ_CHECK(url->port == 1);
    FUZZ_CHECK(url->target_template == target);
}

// Rebuilds the key from the pattern and the captures: it must be the key.
void check_captures(std::string_view glob, std::string_view key, const std::vector<std::string_view>& caps) {
    FUZZ_CHECK(caps.size() == count(glob, '*'));
    std::string rebuilt;
    std::size_t next = 0;
    for (char c : glob) {
        if (c == '*') {
            FUZZ_CHECK(fuzz::view_inside(caps[next], key.data(), key.data() + key.size()));
            rebuilt += caps[next++];
        } else {
            rebuilt += c;
        }
    }
    FUZZ_CHECK(rebuilt == key);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 2) return 0;
    const std::uint8_t choice = data[0];
    const std::uint8_t split = data[1];
    const fuzz::exact_buffer material(std::string_view(reinterpret_cast<const char*>(data) + 2, size - 2));
    const std::string_view rest = material.view();

    // Whatever the bytes, parse_upstream_url must hold together.
    if (auto u = herdguard::parse_upstream_url(rest)) {
        FUZZ_CHECK(!u->host.empty());
        FUZZ_CHECK(u->port != 0);
        FUZZ_CHECK(!u->target_template.empty() && u->target_template.front() == '/');
    }

    const std::string_view glob = k_patterns[choice % k_patterns.size()];
    const std::string_view tpl = k_templates[(choice / k_patterns.size()) % k_templates.size()];
    const bool build_key = (choice & 0x80) == 0;

    // Sanity: the template itself goes through parse_upstream_url unchanged.
    {
        auto u = herdguard::parse_upstream_url("http://h:1" + std::string(tpl));
        FUZZ_CHECK(u && u->target_template == tpl);
    }

    std::string key;
    if (build_key) {  // fill the pattern's stars with the material, split at `split`
        std::size_t cut = rest.empty() ? 0 : split % (rest.size() + 1);
        std::string_view parts[2] = {rest.substr(0, cut), rest.substr(cut)};
        std::size_t stars = count(glob, '*');
        std::size_t used = 0;
        for (char c : glob) {
            if (c != '*') {
                key += c;
            } else if (stars == 1) {
                key += rest;
            } else {
                key += parts[used++ % 2];
            }
        }
    } else {
        key = std::string(rest);
    }
    const fuzz::exact_buffer key_buf(key);
    const std::string_view k = key_buf.view();

    herdguard::key_pattern pattern{std::string(glob)};
    std::vector<std::string_view> caps;
    const bool matched = pattern.match(k, &caps);
    if (build_key) FUZZ_CHECK(matched);
    if (matched) {
        check_captures(glob, k, caps);
        FUZZ_CHECK(pattern.match(k));  // same answer without captures
        check_target(tpl, k, caps);
    } else {
        FUZZ_CHECK(!pattern.match(k));
        // Even with arbitrary captures (not produced by a match) expansion keeps the structure.
        std::size_t cut = k.empty() ? 0 : split % (k.size() + 1);
        check_target(tpl, k, {k.substr(0, cut), k.substr(cut)});
    }
    return 0;
}
