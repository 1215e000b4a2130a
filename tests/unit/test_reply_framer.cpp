#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_framer.h"

using namespace herdguard::resp;

namespace {

// Frames `input` fed in chunks split at `cuts`, returning each reply's bytes.
std::vector<std::string> frame(const std::string& input, const std::vector<std::size_t>& cuts = {}) {
    reply_framer framer;
    std::vector<std::string> out;
    std::string buffer;
    std::size_t start = 0;
    std::size_t prev = 0;
    auto all = cuts;
    all.push_back(input.size());
    for (auto cut : all) {
        buffer.append(input, prev, cut - prev);
        prev = cut;
        while (start < buffer.size()) {
            std::size_t len = 0;
            auto st = framer.feed(std::string_view(buffer).substr(start), len);
            if (st == frame_status::need_more) break;
            REQUIRE(st == frame_status::complete);
            out.push_back(buffer.substr(start, len));
            start += len;
        }
    }
    return out;
}

// The replies back to back are framed as exactly these replies, in one piece and split in two at
// every byte.
void require_framed_at_every_split(const std::vector<std::string>& replies) {
    std::string input;
    for (const auto& r : replies) input += r;
    REQUIRE(frame(input) == replies);
    for (std::size_t cut = 1; cut < input.size(); ++cut) {
        INFO("split at " << cut);
        REQUIRE(frame(input, {cut}) == replies);
    }
}

}  // namespace

TEST_CASE("every RESP2 reply type is framed exactly, at every split point", "[resp]") {
    const std::vector<std::string> replies = {
        "+OK\r\n",
        "-ERR unknown command\r\n",
        ":-42\r\n",
        "$5\r\nhe\r\no\r\n",
        "$-1\r\n",
        "$0\r\n\r\n",
        "*-1\r\n",
        "*0\r\n",
        "*3\r\n$1\r\na\r\n*2\r\n:1\r\n*1\r\n+deep\r\n$-1\r\n",
        "*2\r\n*0\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:9\r\n",  // deeper than hiredis's 7
    };
    require_framed_at_every_split(replies);
}

TEST_CASE("garbage from the server is an error, not a guess", "[resp]") {
    reply_framer framer;
    std::size_t len = 0;
    REQUIRE(framer.feed("?what\r\n", len) == frame_status::error);
    framer.reset();
    REQUIRE(framer.feed("$abc\r\n", len) == frame_status::error);
    framer.reset();
    REQUIRE(framer.feed("+OK\rX", len) == frame_status::error);
}

TEST_CASE("encoders write valid RESP that the framer accepts", "[resp]") {
    std::string out;
    append_simple(out, "multi\r\nline");  // CR/LF cannot break the line
    append_error(out, "ERR x");
    append_integer(out, -7);
    append_bulk(out, std::string("a\0b", 3));
    append_null_bulk(out);
    append_command(out, {"SET", "k", "v"});
    auto framed = frame(out);
    REQUIRE(framed.size() == 6);
    REQUIRE(framed[0] == "+multi  line\r\n");
    REQUIRE(framed[2] == ":-7\r\n");
    REQUIRE(framed[3] == std::string("$3\r\na\0b\r\n", 9));
    REQUIRE(framed[5] == "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n");
}

TEST_CASE("every RESP3 reply type is framed exactly, at every split point", "[resp]") {
    const std::vector<std::string> replies = {
        "_\r\n",
        ",3.14\r\n",
        ",-inf\r\n",
        "#t\r\n",
        "(3492890328409238509324850943850943825024385\r\n",
        "!21\r\nSYNTAX invalid syntax\r\n",
        "=15\r\ntxt:Some string\r\n",
        "%2\r\n+first\r\n:1\r\n$6\r\nsecond\r\n*2\r\n_\r\n#f\r\n",
        "%0\r\n",
        "~3\r\n+a\r\n+b\r\n,1.5\r\n",
        ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n",
        // An attribute, then the reply it annotates: one reply.
        "|1\r\n+key-popularity\r\n%1\r\n$1\r\na\r\n,0.19\r\n*2\r\n:2039123\r\n:9543892\r\n",
        // An attribute before one element of an array.
        "*2\r\n|1\r\n+ttl\r\n:3600\r\n$1\r\nv\r\n:7\r\n",
        "*3\r\n%1\r\n~1\r\n>1\r\n+deep\r\n=0\r\n\r\n_\r\n!0\r\n\r\n",
    };
    require_framed_at_every_split(replies);
}

TEST_CASE("RESP3 lengths that Redis never sends are errors", "[resp]") {
    for (std::string_view bad : {"%-1\r\n", "~-1\r\n", ">-1\r\n", "|-1\r\n", "!-1\r\n", "=-1\r\n", "$?\r\n",
                                 "*?\r\n", "%4611686018427387904\r\n"}) {
        INFO(bad);
        reply_framer framer;
        std::size_t len = 0;
        CHECK(framer.feed(bad, len) == frame_status::error);
    }
}
