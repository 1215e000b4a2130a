// What one complete reply from Redis is, read from its bytes without copying: its RESP type
// (RESP2's five and RESP3's additions), whether it is an error, a null or a push, and its scalar
// payload. Every place that needs to know what a reply is asks a reply_view, never a literal
// such as "$-1\r\n": a RESP3 connection says null as "_\r\n" and errors also as "!<len>".
//
// The view assumes a complete reply, as reply_framer delivers it; it never reads past `bytes`.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

#include "herdguard/resp/request_parser.h"

namespace herdguard::resp {

enum class reply_type : char {
    simple = '+',
    error = '-',
    integer = ':',
    bulk = '$',
    array = '*',
    // RESP3
    null = '_',
    double_ = ',',
    boolean = '#',
    big_number = '(',
    bulk_error = '!',
    verbatim = '=',
    map = '%',
    set = '~',
    attribute = '|',
    push = '>',
    unknown = 0,
};

class reply_view {
public:
    explicit reply_view(std::string_view bytes) : bytes_(bytes) {}

    std::string_view bytes() const { return bytes_; }
    reply_type type() const {
        if (bytes_.empty()) return reply_type::unknown;
        switch (bytes_[0]) {
            case '+': case '-': case ':': case '$': case '*': case '_': case ',': case '#':
            case '(': case '!': case '=': case '%': case '~': case '|': case '>':
                return static_cast<reply_type>(bytes_[0]);
            default:
                return reply_type::unknown;
        }
    }
    bool is_error() const { return !bytes_.empty() && (bytes_[0] == '-' || bytes_[0] == '!'); }
    // RESP2's null bulk string and null array, RESP3's null.
    bool is_null() const { return bytes_ == "$-1\r\n" || bytes_ == "*-1\r\n" || bytes_ == "_\r\n"; }
    bool is_push() const { return !bytes_.empty() && bytes_[0] == '>'; }

    // The first line without its type byte and CRLF: "OK" of "+OK", "12" of ":12", the length
    // of a bulk string, the text of a simple error.
    std::string_view line() const {
        if (bytes_.empty()) return {};
        const std::size_t eol = bytes_.find("\r\n");
        return bytes_.substr(1, (eol == std::string_view::npos ? bytes_.size() : eol) - 1);
    }
    // The value of an integer reply.
    std::optional<std::int64_t> integer() const {
        std::int64_t v = 0;
        if (type() != reply_type::integer || !parse_int64(line(), v)) return std::nullopt;
        return v;
    }
    // The body of a bulk string, a verbatim string or a bulk error (not of a null).
    std::optional<std::string_view> bulk() const {
        const auto t = type();
        if (t != reply_type::bulk && t != reply_type::verbatim && t != reply_type::bulk_error) return std::nullopt;
        std::int64_t len = 0;
        const std::string_view head = line();
        if (!parse_int64(head, len) || len < 0) return std::nullopt;
        const std::size_t start = head.size() + 3;  // type byte, length, CRLF
        if (bytes_.size() < start + static_cast<std::size_t>(len)) return std::nullopt;
        return bytes_.substr(start, static_cast<std::size_t>(len));
    }
    // The error's text without its type byte ("WRONGTYPE Operation against ..."), or "".
    std::string_view error_text() const {
        if (!is_error()) return {};
        if (bytes_[0] == '-') return line();
        return bulk().value_or(std::string_view{});
    }
    // The error's code, its first word ("WRONGTYPE", "ERR", "NOPROTO"), or "".
    std::string_view error_code() const {
        const std::string_view text = error_text();
        return text.substr(0, text.find(' '));
    }

private:
    std::string_view bytes_;
};

}  // namespace herdguard::resp
