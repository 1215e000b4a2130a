// Frames client requests: RESP2 multibulk ("*2\r\n$3\r\nGET\r\n$1\r\nk\r\n") and inline commands
// ("GET k\r\n", what telnet and redis-cli's --pipe-less mode send). Zero-copy: argv are views into
// the caller's buffer, valid until the caller moves or discards those bytes.
//
// Limits are explicit and checked before anything is allocated, so a claimed bulk length of 2^40
// costs nothing. Error texts are Redis's own ("invalid bulk length", ...); the session prefixes
// "-ERR Protocol error: " and closes the connection, as Redis does.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herdguard::resp {

struct parser_limits {
    std::uint64_t max_bulk_length = 512ull << 20;  // proto-max-bulk-len
    std::uint64_t max_array_length = 1024ull * 1024;
    std::uint64_t max_inline_length = 64ull << 10;  // PROTO_INLINE_MAX_SIZE
};

struct request {
    std::vector<std::string_view> argv;  // empty for an empty line or "*0": Redis ignores those
    std::string_view raw;                // the exact bytes of the request
    bool is_inline = false;              // inline requests are re-encoded before forwarding
    // Inline arguments with quotes/escapes are unescaped into this storage (views point here).
    std::vector<std::string> unescaped;
};

enum class parse_status { ok, need_more, error };

class request_parser {
public:
    explicit request_parser(parser_limits limits = {}) : limits_(limits) {}

    // Parses one request from the front of `data`. On ok, `consumed` is its length and `out`
    // holds it. On need_more nothing is consumed; `bytes_needed()` then says how many bytes the
    // request needs in total when that is known (so the caller can size its buffer once).
    // On error, `error()` holds Redis's message (without the "Protocol error: " prefix).
    parse_status parse(std::string_view data, request& out, std::size_t& consumed);

    const std::string& error() const { return error_; }
    std::size_t bytes_needed() const { return bytes_needed_; }

private:
    parse_status parse_multibulk(std::string_view data, request& out, std::size_t& consumed);
    parse_status parse_inline(std::string_view data, request& out, std::size_t& consumed);
    parse_status fail(std::string message);

    parser_limits limits_;
    std::string error_;
    std::size_t bytes_needed_ = 0;
};

// Splits an inline command line the way Redis's sdssplitargs does: whitespace separated, with
// "double quotes" (escapes \n \r \t \b \a \\ \" \xHH) and 'single quotes' (escape \').
// Returns false for unbalanced quotes.
bool split_inline_args(std::string_view line, std::vector<std::string>& args);

// Parses a RESP decimal (optional '-', digits only, no '+', no spaces), as Redis's string2ll.
bool parse_int64(std::string_view text, std::int64_t& value);

}  // namespace herdguard::resp
