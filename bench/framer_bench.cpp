// Reply framing micro-benchmark: hiredis 0.14's redisReader vs herdguard::resp::reply_framer,
// each only finding where every reply of a byte stream from Redis ends.
//
// The stream is a seeded, shuffled mix of typical replies (+OK, :123, $100 bulks, $-1 nils,
// *10 arrays of $100 bulks), repeated to the requested size (default 200 MB), fed in 16 KB
// chunks, as reads from a socket would deliver it:
//   hiredis:  redisReaderFeed(chunk), then redisReaderGetReply until no reply, freeReplyObject
//             each (the reader copies the chunk into its own buffer and builds a reply tree).
//   framer:   the chunk is copied into a receive buffer managed as redis_connection's is
//             (64 KB, compacted and grown the same way), then feed() is called from the start of
//             each reply; complete replies are skipped by their length, never copied.
// Both copy each input byte once, as read() into a buffer would. Best of 5 runs, interleaved.
// For reference, a third variant runs hiredis's reader with no object functions
// (redisReaderCreateWithFunctions(NULL): it still parses every element but allocates nothing),
// which separates hiredis's parsing cost from its reply-tree cost.
//
// hiredis 0.14 rejects replies nested deeper than 7 levels, so the mixed stream has no deep
// reply; a separate check feeds one 10-level nested array to both, and the framer is also timed
// alone on a stream that includes such replies.
//
// Build (see bench/CMakeLists.txt), or by hand from the repository root:
//   g++ -O2 -std=c++20 -Iinclude bench/framer_bench.cpp src/resp/reply_framer.cpp src/resp/request_parser.cpp -lhiredis -o /tmp/framer_bench
// Usage: framer_bench [MB]   (default 200)
#include <hiredis/hiredis.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/resp/reply_framer.h"

namespace {

using clock_type = std::chrono::steady_clock;
constexpr std::size_t chunk_size = 16 * 1024;
constexpr int runs = 5;

struct result {
    std::size_t replies = 0;
    std::size_t bytes = 0;  // bytes of complete replies found
    bool ok = true;
    std::string error;
};

std::string bulk(std::mt19937& rng, std::size_t n) {
    std::string payload(n, 'x');
    std::uniform_int_distribution<int> letter('a', 'z');
    for (auto& c : payload) c = static_cast<char>(letter(rng));
    return "$" + std::to_string(n) + "\r\n" + payload + "\r\n";
}

// A 10-level nested array: each level is [ :level, <next level> ]; the innermost holds two bulks.
std::string deep_reply(int levels) {
    std::string out;
    for (int i = 1; i < levels; ++i) out += "*2\r\n:" + std::to_string(i) + "\r\n";
    out += "*2\r\n$5\r\nhello\r\n$5\r\nworld\r\n";
    return out;
}

// One shuffled pattern of `count` replies; returns its text and reply count.
std::string make_pattern(std::mt19937& rng, bool with_deep, std::size_t& replies) {
    // Weights per 30 replies: 8 +OK, 8 :123, 8 $100, 4 $-1, 2 *10 of $100 (and, with_deep,
    // one 10-level nested array per 30).
    std::vector<std::string> kinds;
    for (int i = 0; i < 8; ++i) kinds.push_back("+OK\r\n");
    for (int i = 0; i < 8; ++i) kinds.push_back(":123\r\n");
    for (int i = 0; i < 8; ++i) kinds.push_back("B");
    for (int i = 0; i < 4; ++i) kinds.push_back("$-1\r\n");
    for (int i = 0; i < 2; ++i) kinds.push_back("A");
    if (with_deep) kinds.push_back("D");
    std::string out;
    replies = 0;
    for (int block = 0; block < 512; ++block) {
        std::shuffle(kinds.begin(), kinds.end(), rng);
        for (const auto& k : kinds) {
            if (k == "B") {
                out += bulk(rng, 100);
            } else if (k == "A") {
                out += "*10\r\n";
                for (int i = 0; i < 10; ++i) out += bulk(rng, 100);
            } else if (k == "D") {
                out += deep_reply(10);
            } else {
                out += k;
            }
            ++replies;
        }
    }
    return out;
}

std::string make_stream(std::size_t target_bytes, bool with_deep, std::size_t& replies) {
    std::mt19937 rng(12345);
    std::size_t pattern_replies = 0;
    std::string pattern = make_pattern(rng, with_deep, pattern_replies);
    std::string out;
    out.reserve(target_bytes + pattern.size());
    replies = 0;
    while (out.size() < target_bytes) {
        out += pattern;
        replies += pattern_replies;
    }
    return out;
}

result run_hiredis(std::string_view stream, bool build_replies = true) {
    result r;
    redisReader* reader = build_replies ? redisReaderCreate() : redisReaderCreateWithFunctions(nullptr);
    for (std::size_t off = 0; off < stream.size() && r.ok; off += chunk_size) {
        std::size_t n = std::min(chunk_size, stream.size() - off);
        if (redisReaderFeed(reader, stream.data() + off, n) != REDIS_OK) {
            r.ok = false;
            r.error = reader->errstr;
            break;
        }
        while (true) {
            void* reply = nullptr;
            if (redisReaderGetReply(reader, &reply) != REDIS_OK) {
                r.ok = false;
                r.error = reader->errstr;
                break;
            }
            if (reply == nullptr) break;
            if (build_replies) freeReplyObject(reply);  // else `reply` is just the type, cast
            ++r.replies;
        }
    }
    redisReaderFree(reader);
    return r;
}

result run_framer(std::string_view stream) {
    result r;
    herdguard::resp::reply_framer framer;
    // The receive buffer as src/upstream/redis_connection.cpp manages it.
    std::vector<char> buf(64 * 1024);
    std::size_t rstart = 0, rend = 0;
    for (std::size_t off = 0; off < stream.size() && r.ok; off += chunk_size) {
        std::size_t n = std::min(chunk_size, stream.size() - off);
        if (rstart > 0 && (rend + n > buf.size() || rstart > buf.size() / 2)) {
            std::memmove(buf.data(), buf.data() + rstart, rend - rstart);
            rend -= rstart;
            rstart = 0;
        }
        while (rend + n > buf.size()) buf.resize(buf.size() * 2);
        std::memcpy(buf.data() + rend, stream.data() + off, n);  // stands in for read()
        rend += n;
        while (rstart < rend) {
            std::size_t length = 0;
            auto st = framer.feed(std::string_view(buf.data() + rstart, rend - rstart), length);
            if (st == herdguard::resp::frame_status::need_more) break;
            if (st == herdguard::resp::frame_status::error) {
                r.ok = false;
                r.error = framer.error();
                break;
            }
            rstart += length;
            r.bytes += length;
            ++r.replies;
        }
        if (rstart == rend) rstart = rend = 0;
    }
    return r;
}

template <class F>
double time_it(F&& f, result& out) {
    auto t0 = clock_type::now();
    out = f();
    auto t1 = clock_type::now();
    return std::chrono::duration<double>(t1 - t0).count();
}

void report(const char* name, std::size_t bytes, std::size_t replies, const std::vector<double>& secs) {
    double best = *std::min_element(secs.begin(), secs.end());
    double worst = *std::max_element(secs.begin(), secs.end());
    std::printf("| %s | %.0f | %.2f | %.3f | %.3f |\n", name, static_cast<double>(bytes) / 1e6 / best,
                static_cast<double>(replies) / 1e6 / best, best, worst);
}

bool check(const char* name, const result& r, std::size_t want_replies, std::size_t want_bytes) {
    if (!r.ok) {
        std::printf("%s: error: %s\n", name, r.error.c_str());
        return false;
    }
    if (r.replies != want_replies || (want_bytes != 0 && r.bytes != want_bytes)) {
        std::printf("%s: found %zu replies (%zu bytes), expected %zu (%zu bytes)\n", name, r.replies, r.bytes,
                    want_replies, want_bytes);
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    std::size_t mb = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200;
    if (mb == 0) mb = 200;

    // 1. The deep reply, alone, through each.
    {
        std::string deep = deep_reply(10);
        result h = run_hiredis(deep);
        result f = run_framer(deep);
        std::printf("10-level nested array (%zu bytes):\n", deep.size());
        std::printf("- hiredis redisReader: %s\n",
                    h.ok && h.replies == 1 ? "1 reply" : ("error: \"" + h.error + "\"").c_str());
        std::printf("- herdguard reply_framer: %s\n",
                    f.ok && f.replies == 1 && f.bytes == deep.size() ? "1 reply, length correct"
                                                                      : ("error: \"" + f.error + "\"").c_str());
        std::printf("\n");
    }

    // 2. The mixed stream without deep replies: both, interleaved, best of 5.
    std::size_t replies = 0;
    std::string stream = make_stream(mb * 1000 * 1000, false, replies);
    std::printf("Stream: %.1f MB, %zu replies (avg %.1f bytes), fed in %zu-byte chunks; best of %d, interleaved\n\n",
                static_cast<double>(stream.size()) / 1e6, replies, static_cast<double>(stream.size()) / replies,
                chunk_size, runs);
    std::vector<double> th, tn, tf;
    for (int i = 0; i < runs; ++i) {
        result r;
        th.push_back(time_it([&] { return run_hiredis(stream); }, r));
        if (!check("hiredis", r, replies, 0)) return 1;
        tn.push_back(time_it([&] { return run_hiredis(stream, false); }, r));
        if (!check("hiredis (no objects)", r, replies, 0)) return 1;
        tf.push_back(time_it([&] { return run_framer(stream); }, r));
        if (!check("framer", r, replies, stream.size())) return 1;
    }
    std::printf("| reader | MB/s | M replies/s | best s | worst s |\n|:--|--:|--:|--:|--:|\n");
    report("hiredis 0.14 redisReader (reply tree built and freed)", stream.size(), replies, th);
    report("hiredis 0.14 redisReader, no object functions (reference)", stream.size(), replies, tn);
    report("herdguard reply_framer (boundaries only)", stream.size(), replies, tf);
    double best_h = *std::min_element(th.begin(), th.end());
    double best_f = *std::min_element(tf.begin(), tf.end());
    std::printf("\nframer / hiredis throughput: %.2fx\n", best_h / best_f);

    // 3. The framer alone on the same mix plus one 10-level nested array per 30 replies.
    stream.clear();
    stream.shrink_to_fit();
    std::string deep_stream = make_stream(mb * 1000 * 1000, true, replies);
    std::vector<double> td;
    {
        result r = run_hiredis(std::string_view(deep_stream).substr(0, 1 << 20));
        std::printf("\nWith 10-level nested arrays in the mix (%.1f MB, %zu replies):\n",
                    static_cast<double>(deep_stream.size()) / 1e6, replies);
        std::printf("- hiredis: %s\n", r.ok ? "no error (unexpected)" : ("error: \"" + r.error + "\"").c_str());
    }
    for (int i = 0; i < runs; ++i) {
        result r;
        td.push_back(time_it([&] { return run_framer(deep_stream); }, r));
        if (!check("framer (deep mix)", r, replies, deep_stream.size())) return 1;
    }
    std::printf("\n| reader | MB/s | M replies/s | best s | worst s |\n|:--|--:|--:|--:|--:|\n");
    report("herdguard reply_framer, mix with deep replies", deep_stream.size(), replies, td);
    return 0;
}
