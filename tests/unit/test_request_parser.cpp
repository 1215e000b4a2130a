#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "herdguard/resp/request_parser.h"

using namespace herdguard::resp;

namespace {

struct parsed {
    std::vector<std::vector<std::string>> commands;
    std::string error;
};

// Feeds `input` in the given chunks, as a session would (keeping unparsed bytes), and collects
// every complete command.
parsed feed_chunks(const std::string& input, const std::vector<std::size_t>& cuts, parser_limits limits = {}) {
    request_parser parser(limits);
    parsed out;
    std::string buffer;
    std::size_t start = 0;
    std::size_t prev = 0;
    auto cuts_all = cuts;
    cuts_all.push_back(input.size());
    for (std::size_t cut : cuts_all) {
        buffer.append(input, prev, cut - prev);
        prev = cut;
        while (true) {
            request req;
            std::size_t consumed = 0;
            auto st = parser.parse(std::string_view(buffer).substr(start), req, consumed);
            if (st == parse_status::need_more) break;
            if (st == parse_status::error) {
                out.error = parser.error();
                return out;
            }
            start += consumed;
            if (req.argv.empty()) continue;
            std::vector<std::string> argv(req.argv.begin(), req.argv.end());
            out.commands.push_back(argv);
        }
    }
    return out;
}

parsed feed_all(const std::string& input, parser_limits limits = {}) { return feed_chunks(input, {}, limits); }

}  // namespace

TEST_CASE("multibulk and inline requests parse at every split point", "[resp]") {
    const std::string input =
        "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n"  // a value containing CRLF
        "PING\r\n"
        "*1\r\n$4\r\nPING\r\n"
        "  set   \"a b\"  'c\\'d'  \r\n"
        "*2\r\n$3\r\nGET\r\n$0\r\n\r\n";
    const std::vector<std::vector<std::string>> expected = {
        {"SET", "key", "va\r\nl"}, {"PING"}, {"PING"}, {"set", "a b", "c'd"}, {"GET", ""}};
    REQUIRE(feed_all(input).commands == expected);
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
        INFO("single split at " << cut);
        auto r = feed_chunks(input, {cut});
        REQUIRE(r.error.empty());
        REQUIRE(r.commands == expected);
    }
    for (std::size_t a = 1; a < input.size(); a += 3) {
        for (std::size_t b = a + 1; b < input.size(); b += 5) {
            INFO("splits at " << a << " and " << b);
            REQUIRE(feed_chunks(input, {a, b}).commands == expected);
        }
    }
}

TEST_CASE("byte-by-byte feeding yields the same commands", "[resp]") {
    const std::string input = "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\nGET x\n";
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < input.size(); ++i) cuts.push_back(i);
    auto r = feed_chunks(input, cuts);
    REQUIRE(r.commands == std::vector<std::vector<std::string>>{{"ECHO", "hello world"}, {"GET", "x"}});
}

TEST_CASE("empty requests are skipped as Redis skips them", "[resp]") {
    auto r = feed_all("\r\n*0\r\n*-1\r\nPING\r\n");
    REQUIRE(r.error.empty());
    REQUIRE(r.commands == std::vector<std::vector<std::string>>{{"PING"}});
}

TEST_CASE("malformed requests get Redis's protocol errors", "[resp]") {
    REQUIRE(feed_all("*1\r\n$abc\r\n").error == "invalid bulk length");
    REQUIRE(feed_all("*abc\r\n").error == "invalid multibulk length");
    REQUIRE(feed_all("*1\r\nfoo\r\n").error == "expected '$', got 'f'");
    REQUIRE(feed_all("*1\r\n$-5\r\n").error == "invalid bulk length");
    REQUIRE(feed_all("*+1\r\n").error == "invalid multibulk length");
    REQUIRE(feed_all("SET \"unterminated\r\n").error == "unbalanced quotes in request");
    REQUIRE(feed_all("SET \"a\"b\r\n").error == "unbalanced quotes in request");
}

TEST_CASE("limits are enforced before anything is allocated", "[resp]") {
    parser_limits limits{1024, 16, 128};
    // A claimed bulk of 2^40 bytes is refused from its header alone.
    REQUIRE(feed_all("*1\r\n$1099511627776\r\n").error == "invalid bulk length");
    REQUIRE(feed_all("*1\r\n$1025\r\n", limits).error == "invalid bulk length");
    REQUIRE(feed_all("*17\r\n", limits).error == "invalid multibulk length");
    REQUIRE(feed_all("*1000000\r\n").commands.empty());  // within default limit: waits, no error
    REQUIRE(feed_all("*1000000\r\n").error.empty());
    REQUIRE(feed_all(std::string(200, 'a'), limits).error == "too big inline request");
    REQUIRE(feed_all(std::string(200, 'a') + "\r\n", limits).error == "too big inline request");
    REQUIRE(feed_all("*" + std::string(200, '1'), limits).error == "too big mbulk count string");
    REQUIRE(feed_all("*1\r\n$" + std::string(200, '1'), limits).error == "too big bulk count string");
    // Exactly at the limits is fine.
    REQUIRE(feed_all("*1\r\n$1024\r\n" + std::string(1024, 'x') + "\r\n", limits).commands.size() == 1);
}

TEST_CASE("need_more reports how many bytes a large bulk needs", "[resp]") {
    request_parser parser;
    request req;
    std::size_t consumed = 0;
    std::string partial = "*2\r\n$3\r\nSET\r\n$100000\r\nxx";
    REQUIRE(parser.parse(partial, req, consumed) == parse_status::need_more);
    REQUIRE(parser.bytes_needed() == std::string("*2\r\n$3\r\nSET\r\n$100000\r\n").size() + 100002);
}

TEST_CASE("inline argument splitting follows sdssplitargs", "[resp]") {
    std::vector<std::string> args;
    REQUIRE(split_inline_args(R"(set "\x41\n\t\\" 'it''s')", args) == false);  // quote then quote
    args.clear();
    REQUIRE(split_inline_args(R"(set "\x41\n\t\\" 'it\'s')", args));
    REQUIRE(args == std::vector<std::string>{"set", "A\n\t\\", "it's"});
    args.clear();
    REQUIRE(split_inline_args("   ", args));
    REQUIRE(args.empty());
}

TEST_CASE("integers parse strictly like string2ll", "[resp]") {
    std::int64_t v = 0;
    REQUIRE(parse_int64("0", v));
    REQUIRE(v == 0);
    REQUIRE(parse_int64("-9223372036854775808", v));
    REQUIRE(v == INT64_MIN);
    REQUIRE_FALSE(parse_int64("9223372036854775808", v));
    REQUIRE_FALSE(parse_int64("", v));
    REQUIRE_FALSE(parse_int64("-", v));
    REQUIRE_FALSE(parse_int64("+1", v));
    REQUIRE_FALSE(parse_int64("1 ", v));
}
