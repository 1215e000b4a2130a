// libFuzzer target: herdguard::resp::request_parser (src/resp/request_parser.cpp).
//
// Input layout: byte 0 picks the parser limits (default / small / tiny), bytes 1..4 are chunk
// sizes (each +1, cycled) for the streamed run, the rest is the client's byte stream.
//
// The stream is parsed twice with a fresh parser each time:
//   whole    - all bytes at once, requests taken from the front one after another;
//   chunked  - the bytes arrive in chunks and are parsed as session::process() does: unparsed
//              bytes are kept, and each parse starts at the first unconsumed byte.
// Properties (abort() on violation):
//   - consumed <= data size; ok => consumed > 0; need_more/error => consumed == 0;
//   - ok => raw is the consumed prefix; multibulk argv are views inside raw, inline argv are
//     views of the request's own unescaped strings;
//   - need_more => bytes_needed() is 0 (unknown) or more than what was there;
//   - both runs produce the same requests (argv, raw bytes, inline flag, stream offset) and
//     end the same way (same error, or both wanting more at the same offset). The one allowed
//     difference is Redis's own: a count line whose CRLF has not arrived yet and that is already
//     longer than the inline limit is "too big (m)bulk count string"; seen whole, the same line
//     is "invalid (multi)bulk length";
//   - a request the chunked run was told needs N bytes is at least N bytes long when complete;
//   - no single allocation during a parse() is larger than 64 * (bytes given) + 64 KiB, so
//     memory never follows a claimed length (a malloc hook records the largest allocation).
// LLVMFuzzerInitialize additionally checks that a claimed $2^40 bulk and *2^40 array without
// bodies return at once (need_more under huge limits, error under the defaults) and allocate
// next to nothing.
#include <sanitizer/allocator_interface.h>

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "herdguard/resp/request_parser.h"

using herdguard::resp::parse_status;
using herdguard::resp::parser_limits;
using herdguard::resp::request;
using herdguard::resp::request_parser;

namespace {

// ---- allocation watch -----------------------------------------------------------------------
volatile bool g_armed = false;
volatile std::size_t g_largest = 0;

void on_malloc(const volatile void*, std::size_t size) {
    if (g_armed && size > g_largest) g_largest = size;
}
void on_free(const volatile void*) {}

struct alloc_watch {
    alloc_watch() {
        g_largest = 0;
        g_armed = true;
    }
    ~alloc_watch() { g_armed = false; }
    std::size_t largest() const { return g_largest; }
};

std::size_t alloc_bound(std::size_t given) { return 64 * given + 64 * 1024; }

// ---- one parse call with its local invariants -----------------------------------------------
parse_status checked_parse(request_parser& parser, std::string_view data, request& req, std::size_t& consumed) {
    parse_status st;
    std::size_t largest = 0;
    {
        alloc_watch watch;
        st = parser.parse(data, req, consumed);
        largest = watch.largest();
    }
    if (largest > alloc_bound(data.size())) {
        std::fprintf(stderr, "parse() of %zu bytes allocated %zu bytes at once\n", data.size(), largest);
        FUZZ_CHECK(!"allocation scales with a claimed length");
    }
    FUZZ_CHECK(consumed <= data.size());
    const char* lo = data.data();
    const char* hi = data.data() + data.size();
    switch (st) {
        case parse_status::ok:
            FUZZ_CHECK(consumed > 0);
            FUZZ_CHECK(req.raw.data() == data.data() && req.raw.size() == consumed);
            if (req.is_inline) {
                FUZZ_CHECK(req.raw.back() == '\n');
                FUZZ_CHECK(req.argv.size() == req.unescaped.size());
                for (std::size_t i = 0; i < req.argv.size(); ++i) {
                    FUZZ_CHECK(req.argv[i].data() == req.unescaped[i].data());
                    FUZZ_CHECK(req.argv[i].size() == req.unescaped[i].size());
                }
            } else {
                FUZZ_CHECK(req.raw.front() == '*');
                FUZZ_CHECK(req.unescaped.empty());
                for (std::string_view a : req.argv) {
                    FUZZ_CHECK(fuzz::view_inside(a, lo, hi));
                    FUZZ_CHECK(fuzz::view_inside(a, req.raw.data(), req.raw.data() + req.raw.size()));
                }
            }
            break;
        case parse_status::need_more:
            FUZZ_CHECK(consumed == 0);
            FUZZ_CHECK(parser.bytes_needed() == 0 || parser.bytes_needed() > data.size());
            break;
        case parse_status::error:
            FUZZ_CHECK(consumed == 0);
            FUZZ_CHECK(!parser.error().empty());
            break;
    }
    return st;
}

// ---- the two runs ---------------------------------------------------------------------------
struct parsed_cmd {
    std::size_t offset;  // in the stream
    std::vector<std::string> argv;
    std::string raw;
    bool is_inline;
    bool operator==(const parsed_cmd&) const = default;
};

struct outcome {
    std::vector<parsed_cmd> cmds;
    parse_status end = parse_status::need_more;
    std::size_t end_offset = 0;     // stream offset of the request that ended the run
    std::string error;
    std::size_t bytes_needed = 0;   // at the end, when need_more
    std::map<std::size_t, std::size_t> needed;  // chunked: offset -> largest bytes_needed seen
};

parsed_cmd snapshot(std::size_t offset, const request& req) {
    parsed_cmd c{offset, {}, std::string(req.raw), req.is_inline};
    for (std::string_view a : req.argv) c.argv.emplace_back(a);
    return c;
}

outcome parse_whole(const parser_limits& limits, std::string_view stream) {
    outcome out;
    request_parser parser(limits);
    request req;
    fuzz::exact_buffer buf(stream);
    std::string_view all = buf.view();
    std::size_t pos = 0;
    while (true) {
        std::size_t consumed = 0;
        auto st = checked_parse(parser, all.substr(pos), req, consumed);
        if (st == parse_status::ok) {
            out.cmds.push_back(snapshot(pos, req));
            pos += consumed;
            continue;
        }
        out.end = st;
        out.end_offset = pos;
        if (st == parse_status::error) out.error = parser.error();
        if (st == parse_status::need_more) out.bytes_needed = parser.bytes_needed();
        return out;
    }
}

outcome parse_chunked(const parser_limits& limits, std::string_view stream, fuzz::chunker chunks) {
    outcome out;
    request_parser parser(limits);
    request req;
    std::string pending;     // like session's rbuf_[rstart_, rend_)
    std::size_t base = 0;    // stream offset of pending[0]
    std::size_t fed = 0;
    while (true) {
        std::size_t n = std::min(chunks.next(), stream.size() - fed);
        pending.append(stream.substr(fed, n));
        fed += n;
        // Parse every complete request in what has arrived.
        while (true) {
            fuzz::exact_buffer buf(pending);  // a fresh, exactly sized copy: ASan sees overreads
            std::size_t consumed = 0;
            auto st = checked_parse(parser, buf.view(), req, consumed);
            if (st == parse_status::ok) {
                out.cmds.push_back(snapshot(base, req));  // copy before the buffer goes away
                pending.erase(0, consumed);
                base += consumed;
                continue;
            }
            if (st == parse_status::error) {
                out.end = st;
                out.end_offset = base;
                out.error = parser.error();
                return out;
            }
            if (parser.bytes_needed() != 0) {
                auto& need = out.needed[base];
                need = std::max(need, parser.bytes_needed());
            }
            if (fed == stream.size()) {
                out.end = st;
                out.end_offset = base;
                out.bytes_needed = parser.bytes_needed();
                return out;
            }
            break;
        }
    }
}

bool same_error(const std::string& chunked, const std::string& whole) {
    if (chunked == whole) return true;
    // Redis's processMultibulkBuffer has the same split: the words depend on whether the CRLF of
    // an over-long count line had arrived yet.
    if (chunked == "too big mbulk count string" && whole == "invalid multibulk length") return true;
    if (chunked == "too big bulk count string" && whole == "invalid bulk length") return true;
    return false;
}

parser_limits pick_limits(std::uint8_t b) {
    switch (b % 3) {
        case 0: return parser_limits{};                    // Redis's defaults
        case 1: return parser_limits{1u << 20, 1024, 64u << 10};  // small
        default: return parser_limits{16, 4, 64};           // tiny: limit paths at fuzz sizes
    }
}

void check_claim_is_cheap(const parser_limits& limits, std::string_view text, parse_status expect) {
    request_parser parser(limits);
    request req;
    std::size_t consumed = 0;
    fuzz::exact_buffer buf(text);
    auto t0 = std::chrono::steady_clock::now();
    auto st = checked_parse(parser, buf.view(), req, consumed);
    auto took = std::chrono::steady_clock::now() - t0;
    if (st != expect) {
        std::fprintf(stderr, "claim \"%s\": status %d, expected %d (%s)\n", std::string(text).c_str(),
                     static_cast<int>(st), static_cast<int>(expect), parser.error().c_str());
        FUZZ_CHECK(!"a claimed length is answered at once");
    }
    FUZZ_CHECK(took < std::chrono::seconds(1));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    __sanitizer_install_malloc_and_free_hooks(on_malloc, on_free);
    {  // the hook sees allocations (else the allocation property would hold vacuously)
        alloc_watch watch;
        char* volatile p = new char[123457];
        delete[] p;
        FUZZ_CHECK(watch.largest() >= 123457);
    }
    constexpr auto max64 = std::numeric_limits<std::uint64_t>::max();
    // max_array_length is compared as int64 inside the parser: a value >= 2^63 rejects every
    // multibulk request (see docs/FUZZING.md, findings), so "huge" stops at INT64_MAX.
    constexpr auto max_i64 = static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
    const parser_limits huge{max64, max_i64, 64u << 10};
    // 2^40 = 1099511627776
    check_claim_is_cheap(huge, "*1\r\n$1099511627776\r\n", parse_status::need_more);
    check_claim_is_cheap(huge, "*1099511627776\r\n$3\r\nGET\r\n", parse_status::need_more);
    check_claim_is_cheap(parser_limits{}, "*1\r\n$1099511627776\r\n", parse_status::error);
    check_claim_is_cheap(parser_limits{}, "*1099511627776\r\n", parse_status::error);
    {  // and bytes_needed reports the claim without anything having been allocated for it
        request_parser parser(huge);
        request req;
        std::size_t consumed = 0;
        fuzz::exact_buffer buf("*1\r\n$1099511627776\r\n");
        FUZZ_CHECK(checked_parse(parser, buf.view(), req, consumed) == parse_status::need_more);
        FUZZ_CHECK(parser.bytes_needed() == 4 + 16 + (1ull << 40) + 2);
    }
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 5) return 0;
    const parser_limits limits = pick_limits(data[0]);
    fuzz::chunker chunks(data + 1, 4);
    std::string_view stream(reinterpret_cast<const char*>(data) + 5, size - 5);

    const outcome whole = parse_whole(limits, stream);
    const outcome chunked = parse_chunked(limits, stream, chunks);

    FUZZ_CHECK(chunked.cmds == whole.cmds);
    FUZZ_CHECK(chunked.end == whole.end);
    FUZZ_CHECK(chunked.end_offset == whole.end_offset);
    if (whole.end == parse_status::error) {
        if (!same_error(chunked.error, whole.error)) {
            std::fprintf(stderr, "chunked error \"%s\" vs whole error \"%s\"\n", chunked.error.c_str(),
                         whole.error.c_str());
            FUZZ_CHECK(!"same error whole and chunked");
        }
    } else {
        // Both saw every byte and stopped at the same request: same answer.
        FUZZ_CHECK(chunked.bytes_needed == whole.bytes_needed);
    }
    // bytes_needed is a lower bound on the request's real size.
    for (const auto& c : whole.cmds) {
        auto it = chunked.needed.find(c.offset);
        if (it != chunked.needed.end()) FUZZ_CHECK(c.raw.size() >= it->second);
    }
    if (whole.end == parse_status::need_more && whole.bytes_needed != 0) {
        auto it = chunked.needed.find(whole.end_offset);
        if (it != chunked.needed.end()) FUZZ_CHECK(whole.bytes_needed >= it->second);
    }
    return 0;
}
