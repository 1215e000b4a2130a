#include <catch2/catch.hpp>

#include <string>

#include "herdguard/herd/route.h"

using namespace herdguard;

TEST_CASE("globs match keys and capture each star", "[route]") {
    key_pattern p("product:*");
    std::vector<std::string_view> caps;
    REQUIRE(p.match("product:42", &caps));
    REQUIRE(caps == std::vector<std::string_view>{"42"});
    REQUIRE(p.match("product:", &caps));
    REQUIRE(caps == std::vector<std::string_view>{""});
    REQUIRE_FALSE(p.match("products:42"));
    REQUIRE_FALSE(p.match("xproduct:42"));

    key_pattern two("user:*:post:*");
    REQUIRE(two.match("user:7:post:99", &caps));
    REQUIRE(caps == std::vector<std::string_view>{"7", "99"});
    REQUIRE(two.match("user:a:post:b:post:c", &caps));  // shortest first for the first star
    REQUIRE(caps == std::vector<std::string_view>{"a", "b:post:c"});
    REQUIRE_FALSE(two.match("user:7:comment:99"));

    key_pattern exact("config");
    REQUIRE(exact.match("config", &caps));
    REQUIRE(caps.empty());
    REQUIRE_FALSE(exact.match("config2"));
}

namespace {

// The definition the matcher must agree with: backtracking, each star trying the shortest
// capture first. Exponential, so only for the small inputs below.
bool reference_match(std::string_view pat, std::string_view key, std::vector<std::string_view>& caps) {
    if (pat.empty()) return key.empty();
    if (pat.front() != '*') {
        return !key.empty() && key.front() == pat.front() && reference_match(pat.substr(1), key.substr(1), caps);
    }
    for (std::size_t n = 0; n <= key.size(); ++n) {
        caps.push_back(key.substr(0, n));
        if (reference_match(pat.substr(1), key.substr(n), caps)) return true;
        caps.pop_back();
    }
    return false;
}

}  // namespace

TEST_CASE("glob matching agrees with shortest-first backtracking on every small pattern and key",
          "[route]") {
    // Every pattern and key over {a, b} (patterns also '*') up to length 5 and 6.
    auto all_strings = [](std::string_view alphabet, std::size_t max_len) {
        std::vector<std::string> out{""};
        for (std::size_t i = 0; i < out.size(); ++i)
            if (out[i].size() < max_len)
                for (char c : alphabet) out.push_back(out[i] + c);
        return out;
    };
    const auto patterns = all_strings("ab*", 5);
    const auto keys = all_strings("ab", 6);
    std::size_t matches = 0;
    for (const auto& pat : patterns) {
        key_pattern p(pat);
        for (const auto& key : keys) {
            std::vector<std::string_view> want, got;
            const bool expected = reference_match(pat, key, want);
            if (!expected) want.clear();
            INFO("pattern '" << pat << "', key '" << key << "'");
            REQUIRE(p.match(key, &got) == expected);
            REQUIRE(got == want);
            matches += expected;
        }
    }
    CHECK(matches > 1000);  // the loop really compared matches, not only misses
}

TEST_CASE("a long key against a many-star pattern is decided without backtracking", "[route]") {
    // A backtracking matcher takes ~key^stars steps here (days for this key); a linear one, none.
    key_pattern p("a*b*c*d*e");
    const std::string key = "a" + std::string(1 << 20, 'b');
    CHECK_FALSE(p.match(key));
    const std::string matching = key + "cde";
    std::vector<std::string_view> caps;
    CHECK(p.match(matching, &caps));
    CHECK(caps == std::vector<std::string_view>{"", std::string_view(matching).substr(2, key.size() - 2), "", ""});
}

TEST_CASE("upstream URLs split into host, port and target", "[route]") {
    auto u = parse_upstream_url("http://127.0.0.1:8080/products/{1}?full=1");
    REQUIRE(u);
    REQUIRE(u->host == "127.0.0.1");
    REQUIRE(u->port == 8080);
    REQUIRE(u->target_template == "/products/{1}?full=1");
    auto d = parse_upstream_url("http://svc.local");
    REQUIRE(d);
    REQUIRE(d->port == 80);
    REQUIRE(d->target_template == "/");
    auto v6 = parse_upstream_url("http://[::1]:9000/x");
    REQUIRE(v6);
    REQUIRE(v6->host == "::1");
    REQUIRE(v6->port == 9000);
    REQUIRE_FALSE(parse_upstream_url("https://x/"));
}

TEST_CASE("captures are percent-encoded so keys cannot reshape the URL", "[route][ssrf]") {
    key_pattern p("product:*");
    const std::string tpl = "/products/{1}?k={key}";
    const std::vector<std::string> hostile = {
        "../../admin",         "a/b",          "x?y=1",  "frag#ment", "100%",     "user@evil.com",
        "evil.com:80",         "sp ace",       "cr\r\nlf: injected",  std::string("nul\0byte", 8),
        "\xff\xfe invalid utf8", "..",         ".",      "a&b=c",     "%2e%2e",   "http://evil/",
    };
    for (const auto& cap : hostile) {
        std::string key = "product:" + cap;
        std::vector<std::string_view> caps;
        REQUIRE(p.match(key, &caps));
        std::string target = expand_target(tpl, key, caps);
        INFO("capture: " << cap << " -> " << target);
        // The path keeps exactly its two segments and the query exactly one parameter.
        REQUIRE(target.rfind("/products/", 0) == 0);
        std::string segment = target.substr(10, target.find('?') - 10);
        REQUIRE(segment.find_first_of("/?#@:. \r\n&=") == std::string::npos);
        REQUIRE(segment.find('\0') == std::string::npos);
        REQUIRE(std::count(target.begin(), target.end(), '?') == 1);
        REQUIRE(std::count(target.begin(), target.end(), '/') == 2);
        REQUIRE(target.find('#') == std::string::npos);
        REQUIRE(std::count(target.begin(), target.end(), '=') == 1);
        for (unsigned char c : target) REQUIRE((c > 0x20 && c < 0x7f));
    }
    REQUIRE(percent_encode("a b/..") == "a%20b%2F%2E%2E");
    REQUIRE(percent_encode("Az09-_~") == "Az09-_~");
}

TEST_CASE("templates substitute numbered captures and the whole key", "[route]") {
    std::vector<std::string_view> caps = {"7", "x y"};
    REQUIRE(expand_target("/u/{1}/p/{2}", "user:7:post:x y", caps) == "/u/7/p/x%20y");
    REQUIRE(expand_target("/k/{key}", "user:7", caps) == "/k/user%3A7");
    REQUIRE(expand_target("/none/{3}", "k", caps) == "/none/");
}
