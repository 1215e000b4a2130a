#include "herdguard/resp/request_parser.h"

#include <cstring>
#include <limits>

namespace herdguard::resp {

namespace {

// Finds "\r\n" (multibulk headers) in data starting at `from`; npos when absent.
std::size_t find_crlf(std::string_view data, std::size_t from) {
    while (from < data.size()) {
        const void* p = std::memchr(data.data() + from, '\r', data.size() - from);
        if (p == nullptr) return std::string_view::npos;
        std::size_t at = static_cast<const char*>(p) - data.data();
        if (at + 1 >= data.size()) return std::string_view::npos;  // '\r' is last: need more
        if (data[at + 1] == '\n') return at;
        from = at + 1;
    }
    return std::string_view::npos;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

}  // namespace

bool parse_int64(std::string_view text, std::int64_t& value) {
    // Fast path: lengths and counts are short non-negative numbers; 18 digits cannot overflow.
    if (!text.empty() && text.size() <= 18 && text[0] != '-') {
        std::int64_t acc = 0;
        for (char c : text) {
            if (c < '0' || c > '9') return false;
            acc = acc * 10 + (c - '0');
        }
        value = acc;
        return true;
    }
    if (text.empty() || text.size() > 20) return false;
    std::size_t i = 0;
    bool negative = false;
    if (text[0] == '-') {
        negative = true;
        i = 1;
        if (text.size() == 1) return false;
    }
    std::uint64_t acc = 0;
    for (; i < text.size(); ++i) {
        char c = text[i];
        if (c < '0' || c > '9') return false;
        std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
        if (acc > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
        acc = acc * 10 + digit;
    }
    if (negative) {
        if (acc > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) + 1) return false;
        value = static_cast<std::int64_t>(0 - acc);
    } else {
        if (acc > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return false;
        value = static_cast<std::int64_t>(acc);
    }
    return true;
}

// Longer than 60 lines on purpose: a transcription of Redis's sdssplitargs state machine (quotes,
// escapes, \xHH), kept as one loop so it can be checked against Redis line by line.
bool split_inline_args(std::string_view line, std::vector<std::string>& args) {
    std::size_t i = 0;
    const std::size_t n = line.size();
    while (true) {
        while (i < n && is_space(line[i])) ++i;
        if (i >= n) return true;
        std::string current;
        bool in_double = false;
        bool in_single = false;
        bool done = false;
        while (!done) {
            if (in_double) {
                if (i >= n) return false;  // unterminated quotes
                char c = line[i];
                if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && hex_value(line[i + 2]) >= 0 &&
                    hex_value(line[i + 3]) >= 0) {
                    current.push_back(static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3])));
                    i += 3;
                } else if (c == '\\' && i + 1 < n) {
                    ++i;
                    switch (line[i]) {
                        case 'n': current.push_back('\n'); break;
                        case 'r': current.push_back('\r'); break;
                        case 't': current.push_back('\t'); break;
                        case 'b': current.push_back('\b'); break;
                        case 'a': current.push_back('\a'); break;
                        default: current.push_back(line[i]); break;
                    }
                } else if (c == '"') {
                    // A closing quote must be followed by a space or the end, as in Redis.
                    if (i + 1 < n && !is_space(line[i + 1])) return false;
                    done = true;
                } else {
                    current.push_back(c);
                }
            } else if (in_single) {
                if (i >= n) return false;
                char c = line[i];
                if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
                    ++i;
                    current.push_back('\'');
                } else if (c == '\'') {
                    if (i + 1 < n && !is_space(line[i + 1])) return false;
                    done = true;
                } else {
                    current.push_back(c);
                }
            } else {
                if (i >= n) {
                    done = true;
                    break;
                }
                char c = line[i];
                if (is_space(c)) {
                    done = true;
                } else if (c == '"') {
                    in_double = true;
                } else if (c == '\'') {
                    in_single = true;
                } else {
                    current.push_back(c);
                }
            }
            if (i < n) ++i;
        }
        args.push_back(std::move(current));
    }
}

parse_status request_parser::fail(std::string message) {
    error_ = std::move(message);
    return parse_status::error;
}

parse_status request_parser::parse(std::string_view data, request& out, std::size_t& consumed) {
    out.argv.clear();
    out.unescaped.clear();
    out.raw = {};
    out.is_inline = false;
    consumed = 0;
    bytes_needed_ = 0;
    if (data.empty()) return parse_status::need_more;
    if (data[0] == '*') return parse_multibulk(data, out, consumed);
    return parse_inline(data, out, consumed);
}

parse_status request_parser::parse_inline(std::string_view data, request& out, std::size_t& consumed) {
    const void* nl = std::memchr(data.data(), '\n', data.size());
    if (nl == nullptr) {
        if (data.size() > limits_.max_inline_length) return fail("too big inline request");
        return parse_status::need_more;
    }
    std::size_t eol = static_cast<const char*>(nl) - data.data();
    if (eol > limits_.max_inline_length) return fail("too big inline request");
    std::string_view line = data.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!split_inline_args(line, out.unescaped)) return fail("unbalanced quotes in request");
    out.argv.reserve(out.unescaped.size());
    for (const auto& a : out.unescaped) out.argv.emplace_back(a);
    out.is_inline = true;
    consumed = eol + 1;
    out.raw = data.substr(0, consumed);
    return parse_status::ok;
}

parse_status request_parser::parse_multibulk(std::string_view data, request& out, std::size_t& consumed) {
    std::size_t eol = find_crlf(data, 1);
    if (eol == std::string_view::npos) {
        if (data.size() > limits_.max_inline_length) return fail("too big mbulk count string");
        return parse_status::need_more;
    }
    std::int64_t count = 0;
    if (!parse_int64(data.substr(1, eol - 1), count) ||
        count > static_cast<std::int64_t>(limits_.max_array_length)) {
        return fail("invalid multibulk length");
    }
    std::size_t pos = eol + 2;
    if (count <= 0) {  // "*0" and "*-1" are accepted and ignored, as Redis does
        consumed = pos;
        out.raw = data.substr(0, pos);
        return parse_status::ok;
    }
    // Never reserve what the client claims: a bound keeps "*1000000\r\n" without bodies cheap.
    out.argv.reserve(static_cast<std::size_t>(std::min<std::int64_t>(count, 1024)));
    for (std::int64_t i = 0; i < count; ++i) {
        if (pos >= data.size()) return parse_status::need_more;
        if (data[pos] != '$') return fail(std::string("expected '$', got '") + data[pos] + "'");
        std::size_t len_eol = find_crlf(data, pos + 1);
        if (len_eol == std::string_view::npos) {
            if (data.size() - pos > limits_.max_inline_length) return fail("too big bulk count string");
            return parse_status::need_more;
        }
        std::int64_t len = 0;
        if (!parse_int64(data.substr(pos + 1, len_eol - pos - 1), len) || len < 0 ||
            static_cast<std::uint64_t>(len) > limits_.max_bulk_length) {
            return fail("invalid bulk length");
        }
        std::size_t body = len_eol + 2;
        std::size_t end = body + static_cast<std::size_t>(len) + 2;  // Redis skips the CRLF unchecked
        if (end > data.size()) {
            bytes_needed_ = end;  // at least this much; more arguments may follow
            return parse_status::need_more;
        }
        out.argv.emplace_back(data.data() + body, static_cast<std::size_t>(len));
        pos = end;
    }
    consumed = pos;
    out.raw = data.substr(0, pos);
    return parse_status::ok;
}

}  // namespace herdguard::resp
