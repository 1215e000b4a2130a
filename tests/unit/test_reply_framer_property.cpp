// The reply framer against generated replies: random shapes, sizes and depths, fed in random
// chunks. Two oracles: the generator itself (it knows where each reply ends), at any depth and
// for every RESP3 type; and hiredis's reader (the C client that Redis ships), for RESP2 replies
// within its nesting limit, which must find the same replies in the same bytes.
#include <catch2/catch.hpp>

#include <hiredis/hiredis.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "herdguard/resp/reply_framer.h"

using namespace herdguard::resp;

namespace {

class reply_generator {
public:
    reply_generator(std::uint32_t seed, bool resp3) : rng_(seed), resp3_(resp3) {}

    // One reply; `depth` aggregates at most may still open inside it.
    std::string reply(int depth) {
        std::string out;
        append(out, depth);
        return out;
    }
    // A chain `levels` deep (the shape a script's nested table gives), with random leaves.
    std::string chain(int levels) {
        std::string out;
        for (int i = 0; i < levels; ++i) out += resp3_ && pick(4) == 0 ? "~1\r\n" : "*1\r\n";
        append(out, 0);
        return out;
    }
    std::size_t pick(std::size_t n) { return std::uniform_int_distribution<std::size_t>(0, n - 1)(rng_); }

private:
    std::string bytes(std::size_t max) {
        std::string s(pick(max + 1), '\0');
        for (auto& c : s) c = static_cast<char>(pick(256));  // CR, LF and NUL included
        return s;
    }
    std::string word() {
        std::string s(1 + pick(12), 'a');
        for (auto& c : s) c = static_cast<char>('a' + pick(26));
        return s;
    }
    void bulk(std::string& out, char type, const std::string& body) {
        out += type + std::to_string(body.size()) + "\r\n" + body + "\r\n";
    }
    void append(std::string& out, int depth) {
        const std::size_t kinds = resp3_ ? 18 : 9;
        const std::size_t k = pick(depth > 0 ? kinds : kinds - 5);
        switch (k) {
            case 0: out += "+" + word() + "\r\n"; return;
            case 1: out += "-ERR " + word() + "\r\n"; return;
            case 2: out += ":" + std::to_string(static_cast<std::int64_t>(rng_())) + "\r\n"; return;
            case 3: bulk(out, '$', bytes(pick(10) == 0 ? 70000 : 40)); return;
            case 4: out += pick(2) ? "$-1\r\n" : "*-1\r\n"; return;
            // RESP3 scalars (k 5..12 only when resp3_, see the aggregates below)
            default: break;
        }
        if (!resp3_ || k >= kinds - 5) {
            // Aggregates: the last five kinds.
            const std::size_t agg = k - (kinds - 5);
            const std::size_t n = pick(5);
            static const char types[] = {'*', '*', '~', '%', '|'};
            const char type = resp3_ ? types[agg] : '*';
            out += type + std::to_string(n) + "\r\n";
            const std::size_t elements = type == '%' || type == '|' ? 2 * n : n;
            for (std::size_t i = 0; i < elements; ++i) append(out, depth - 1);
            if (type == '|') append(out, depth - 1);  // the reply the attribute annotates
            return;
        }
        switch (k) {
            case 5: out += "_\r\n"; return;
            case 6: out += ",3.25e-" + std::to_string(pick(300)) + "\r\n"; return;
            case 7: out += pick(2) ? "#t\r\n" : "#f\r\n"; return;
            case 8: out += "(" + std::string(1 + pick(60), '7') + "\r\n"; return;
            case 9: bulk(out, '!', "ERR " + word()); return;
            case 10: bulk(out, '=', "txt:" + bytes(30)); return;
            case 11: out += "%0\r\n"; return;
            default: out += "~0\r\n"; return;
        }
    }

    std::mt19937 rng_;
    bool resp3_;
};

// Frames `stream` fed in random chunks, as a connection reads it; the length of each reply.
std::vector<std::size_t> frame_chunked(const std::string& stream, reply_generator& g) {
    reply_framer framer;
    std::vector<std::size_t> lengths;
    std::size_t start = 0, received = 0;
    while (true) {
        received = std::min(stream.size(), received + 1 + g.pick(g.pick(3) == 0 ? 20 : 9000));
        while (start < received) {
            std::size_t length = 0;
            const auto st = framer.feed(std::string_view(stream).substr(start, received - start), length);
            if (st == frame_status::need_more) break;
            REQUIRE(st == frame_status::complete);
            lengths.push_back(length);
            start += length;
        }
        if (received == stream.size()) return lengths;
    }
}

// hiredis's reader on the same bytes: how many complete replies it finds in `reply` alone.
int hiredis_replies(const std::string& bytes) {
    redisReader* reader = redisReaderCreate();
    REQUIRE(redisReaderFeed(reader, bytes.data(), bytes.size()) == REDIS_OK);
    int count = 0;
    while (true) {
        void* r = nullptr;
        if (redisReaderGetReply(reader, &r) != REDIS_OK) {
            const std::string why = reader->errstr;
            redisReaderFree(reader);
            FAIL("hiredis: " << why);
        }
        if (r == nullptr) break;
        freeReplyObject(r);
        ++count;
    }
    redisReaderFree(reader);
    return count;
}

}  // namespace

TEST_CASE("framer property: generated replies of random shape, size and depth, in random chunks", "[resp][property]") {
    for (const bool resp3 : {false, true}) {
        for (std::uint32_t seed = 1; seed <= 60; ++seed) {
            INFO("resp3 " << resp3 << ", seed " << seed);
            reply_generator g(seed, resp3);
            std::vector<std::string> replies;
            for (int i = 0; i < 40; ++i) replies.push_back(g.reply(static_cast<int>(g.pick(6))));
            // Deep chains, as self-referencing Lua tables give: up to 20,000 levels.
            replies.push_back(g.chain(static_cast<int>(1 + g.pick(20000))));
            std::string stream;
            std::vector<std::size_t> expected;
            for (const auto& r : replies) {
                stream += r;
                expected.push_back(r.size());
            }
            REQUIRE(frame_chunked(stream, g) == expected);
        }
    }
}

TEST_CASE("framer property: the same reply boundaries as hiredis's reader (RESP2, its 7 levels)", "[resp][property]") {
    for (std::uint32_t seed = 1; seed <= 200; ++seed) {
        INFO("seed " << seed);
        reply_generator g(seed, false);
        std::string stream;
        std::vector<std::string> replies;
        for (int i = 0; i < 20; ++i) {
            replies.push_back(g.reply(static_cast<int>(g.pick(7))));
            stream += replies.back();
        }
        const auto lengths = frame_chunked(stream, g);
        REQUIRE(static_cast<int>(lengths.size()) == hiredis_replies(stream));
        std::size_t at = 0;
        for (std::size_t len : lengths) {
            const std::string one = stream.substr(at, len);
            at += len;
            // hiredis reads exactly one reply in the framed bytes, and none without the last byte.
            CHECK(hiredis_replies(one) == 1);
            CHECK(hiredis_replies(one.substr(0, one.size() - 1)) == 0);
        }
    }
}

TEST_CASE("framer: a 100,000-level reply costs no stack and frames in one pass", "[resp]") {
    std::string deep;
    for (int i = 0; i < 100000; ++i) deep += i % 3 == 0 ? "%1\r\n*1\r\n+k\r\n" : "*1\r\n";
    // Every third level is a map whose key is an array and whose value is the rest of the chain:
    // the innermost scalar completes them all.
    deep += ":1\r\n";
    reply_framer framer;
    std::size_t len = 0;
    REQUIRE(framer.feed(deep, len) == frame_status::complete);
    CHECK(len == deep.size());
}
