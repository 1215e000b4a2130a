// libFuzzer target: herdguard::load_config_text (src/config/config.cpp, units.cpp,
// src/util/address.cpp, src/herd/route.cpp, src/util/upstream_url.cpp), i.e. what
// `herdguard --check --config FILE` runs.
//
// The input is the YAML text. Properties (abort() on violation):
//   - load_config_text never crashes and never lets an exception out;
//   - an error message always starts with "<source>: " for the source name given, and the
//     config passed in is left untouched;
//   - a config it accepts passes validate() again, and every accepted route is usable at
//     run time: parse_upstream_url() accepts its upstream, its match glob matches a key built
//     from it, and expanding the template for that key leaves no '{' or '}' behind;
//   - the limits it accepts give a request parser (built as session.cpp does) that accepts
//     "*0" and, when max_request_bytes >= 4, "*1 $4 PING".
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "herdguard/config/config.h"
#include "herdguard/herd/route.h"
#include "herdguard/resp/request_parser.h"

namespace {

const std::string k_source = "fuzz/herdguard.yaml";

bool starts_with(const std::string& s, const std::string& prefix) { return s.rfind(prefix, 0) == 0; }

void check_route_usable(const herdguard::route_config& r) {
    auto url = herdguard::parse_upstream_url(r.upstream);
    if (!url) {
        std::fprintf(stderr, "accepted upstream \"%s\" does not parse\n", r.upstream.c_str());
        FUZZ_CHECK(!"accepted upstream parses");
    }
    FUZZ_CHECK(!url->host.empty());
    FUZZ_CHECK(url->port != 0);
    FUZZ_CHECK(url->host.find_first_of("{}") == std::string::npos);
    FUZZ_CHECK(!url->target_template.empty() && url->target_template.front() == '/');

    // A key the glob must match: every '*' replaced by "x/y". Globs are matched by backtracking
    // (exponential in the number of stars, which config globs keep small): skip long ones.
    const auto stars = static_cast<std::size_t>(std::count(r.match.begin(), r.match.end(), '*'));
    if (stars > 8) return;
    std::string key;
    for (char c : r.match) {
        if (c == '*')
            key += "x/y";
        else
            key += c;
    }
    herdguard::key_pattern pattern(r.match);
    std::vector<std::string_view> captures;
    FUZZ_CHECK(pattern.match(key, &captures));
    FUZZ_CHECK(captures.size() == stars);
    std::string target = herdguard::expand_target(url->target_template, key, captures);
    if (target.find_first_of("{}") != std::string::npos) {
        std::fprintf(stderr, "template \"%s\" left a brace in \"%s\"\n", url->target_template.c_str(),
                     target.c_str());
        FUZZ_CHECK(!"placeholders all expanded");
    }
}

void check_parses(const herdguard::resp::parser_limits& limits, std::string_view request) {
    herdguard::resp::request_parser parser(limits);
    herdguard::resp::request req;
    std::size_t consumed = 0;
    if (parser.parse(request, req, consumed) != herdguard::resp::parse_status::ok) {
        std::fprintf(stderr,
                     "accepted limits {max_request_bytes %llu, max_array_length %llu, max_inline_bytes %llu} "
                     "reject %zu-byte request: %s\n",
                     static_cast<unsigned long long>(limits.max_bulk_length),
                     static_cast<unsigned long long>(limits.max_array_length),
                     static_cast<unsigned long long>(limits.max_inline_length), request.size(),
                     parser.error().c_str());
        FUZZ_CHECK(!"accepted limits give a parser that takes a valid request");
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    herdguard::config cfg;  // defaults
    std::optional<herdguard::config_error> error;
    try {
        error = herdguard::load_config_text(text, k_source, cfg);
    } catch (...) {
        FUZZ_CHECK(!"load_config_text let an exception out");
    }
    if (error) {
        if (!starts_with(error->message, k_source + ": ")) {
            std::fprintf(stderr, "error without source prefix: \"%s\"\n", error->message.c_str());
            FUZZ_CHECK(!"error starts with the source name");
        }
        // untouched on error
        FUZZ_CHECK(cfg.source.empty());
        FUZZ_CHECK(cfg.routes.empty());
        FUZZ_CHECK(cfg.threads == 1);
        return 0;
    }
    FUZZ_CHECK(cfg.source == k_source);
    std::optional<herdguard::config_error> again;
    try {
        again = herdguard::validate(cfg);
    } catch (...) {
        FUZZ_CHECK(!"validate let an exception out");
    }
    if (again) {
        std::fprintf(stderr, "accepted config fails validate(): %s\n", again->message.c_str());
        FUZZ_CHECK(!"validate() accepts what load_config_text accepted");
    }
    for (const auto& r : cfg.routes) check_route_usable(r);

    // The limits it accepts make a working parser (as session.cpp's limits_from builds it):
    // "*0" and, when a 4-byte bulk is allowed, "PING" go through.
    const herdguard::resp::parser_limits limits{cfg.limits.max_request_bytes, cfg.limits.max_array_length,
                                                cfg.limits.max_inline_bytes};
    check_parses(limits, "*0\r\n");
    if (cfg.limits.max_request_bytes >= 4) check_parses(limits, "*1\r\n$4\r\nPING\r\n");
    return 0;
}
