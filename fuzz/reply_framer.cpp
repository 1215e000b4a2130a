// libFuzzer target: herdguard::resp::reply_framer (src/resp/reply_framer.cpp).
//
// Input layout: bytes 0..3 are chunk sizes (each +1, cycled), the rest is what Redis sends.
//
// The stream is framed twice, each time with one framer used for the whole stream as a
// connection does:
//   whole    - feed() gets everything from the start of the current reply to the end;
//   chunked  - bytes arrive in chunks; feed() gets everything received from the start of the
//              current reply (the framer's contract: at least what the previous call saw).
// Properties (abort() on violation):
//   - complete => 0 < length <= bytes given; need_more/error => no length reported;
//   - both runs find the same reply boundaries, and end the same way (the same error at the
//     same offset, or both wanting more at the same offset);
//   - every complete reply, copied alone into an exactly sized buffer and framed by a fresh
//     framer, is complete with the same length; with its last byte missing it needs more;
//   - a reply followed by other bytes (a bad line) still ends where it ended alone: the framer
//     never looks past a complete reply.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_util.h"
#include "herdguard/resp/reply_framer.h"

using herdguard::resp::frame_status;
using herdguard::resp::reply_framer;

namespace {

struct outcome {
    std::vector<std::size_t> lengths;  // consecutive replies
    frame_status end = frame_status::need_more;
    std::size_t end_offset = 0;
    std::string error;
};

frame_status checked_feed(reply_framer& framer, std::string_view data, std::size_t& length) {
    constexpr std::size_t unset = static_cast<std::size_t>(-1);
    length = unset;
    auto st = framer.feed(data, length);
    if (st == frame_status::complete) {
        FUZZ_CHECK(length != unset);
        FUZZ_CHECK(length > 0 && length <= data.size());
    } else {
        FUZZ_CHECK(length == unset);
        if (st == frame_status::error) FUZZ_CHECK(!framer.error().empty());
    }
    return st;
}

outcome frame_whole(std::string_view stream) {
    outcome out;
    reply_framer framer;
    fuzz::exact_buffer buf(stream);
    std::string_view all = buf.view();
    std::size_t pos = 0;
    while (true) {
        std::size_t length = 0;
        auto st = checked_feed(framer, all.substr(pos), length);
        if (st == frame_status::complete) {
            out.lengths.push_back(length);
            pos += length;
            continue;
        }
        out.end = st;
        out.end_offset = pos;
        if (st == frame_status::error) out.error = framer.error();
        return out;
    }
}

outcome frame_chunked(std::string_view stream, fuzz::chunker chunks) {
    outcome out;
    reply_framer framer;
    std::size_t start = 0;     // stream offset of the current reply
    std::size_t received = 0;  // stream bytes arrived so far
    while (true) {
        received += std::min(chunks.next(), stream.size() - received);
        while (true) {
            fuzz::exact_buffer buf(stream.substr(start, received - start));
            std::size_t length = 0;
            auto st = checked_feed(framer, buf.view(), length);
            if (st == frame_status::complete) {
                out.lengths.push_back(length);
                start += length;
                continue;
            }
            if (st == frame_status::error || received == stream.size()) {
                out.end = st;
                out.end_offset = start;
                if (st == frame_status::error) out.error = framer.error();
                return out;
            }
            break;  // need more: wait for the next chunk
        }
    }
}

void check_alone(std::string_view reply) {
    {
        reply_framer fresh;
        fuzz::exact_buffer buf(reply);
        std::size_t length = 0;
        FUZZ_CHECK(checked_feed(fresh, buf.view(), length) == frame_status::complete);
        FUZZ_CHECK(length == reply.size());
    }
    {
        reply_framer fresh;
        fuzz::exact_buffer buf(reply.substr(0, reply.size() - 1));
        std::size_t length = 0;
        FUZZ_CHECK(checked_feed(fresh, buf.view(), length) == frame_status::need_more);
    }
    {
        reply_framer fresh;
        const std::string with_rest = std::string(reply) + "\r\n!x\r\n*2\r\n";
        fuzz::exact_buffer buf(with_rest);
        std::size_t length = 0;
        FUZZ_CHECK(checked_feed(fresh, buf.view(), length) == frame_status::complete);
        FUZZ_CHECK(length == reply.size());
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size < 4) return 0;
    fuzz::chunker chunks(data, 4);
    std::string_view stream(reinterpret_cast<const char*>(data) + 4, size - 4);

    const outcome whole = frame_whole(stream);
    const outcome chunked = frame_chunked(stream, chunks);

    FUZZ_CHECK(chunked.lengths == whole.lengths);
    FUZZ_CHECK(chunked.end == whole.end);
    FUZZ_CHECK(chunked.end_offset == whole.end_offset);
    FUZZ_CHECK(chunked.error == whole.error);

    std::size_t pos = 0;
    for (std::size_t length : whole.lengths) {
        check_alone(stream.substr(pos, length));
        pos += length;
    }
    FUZZ_CHECK(pos == whole.end_offset);
    return 0;
}
