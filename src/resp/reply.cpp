#include "herdguard/resp/reply.h"

#include <charconv>

namespace herdguard::resp {

namespace {
void append_number_line(std::string& out, char type, std::int64_t value) {
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
    (void)ec;  // 24 bytes always fit an int64
    out.push_back(type);
    out.append(buf, end);
    out.append("\r\n", 2);
}

// A simple string or error may not contain CR or LF (it would end the line early).
void append_line(std::string& out, char type, std::string_view text) {
    out.push_back(type);
    for (char c : text) out.push_back(c == '\r' || c == '\n' ? ' ' : c);
    out.append("\r\n", 2);
}
}  // namespace

void append_simple(std::string& out, std::string_view text) { append_line(out, '+', text); }
void append_error(std::string& out, std::string_view text) { append_line(out, '-', text); }
void append_integer(std::string& out, std::int64_t value) { append_number_line(out, ':', value); }

void append_bulk(std::string& out, std::string_view value) {
    append_number_line(out, '$', static_cast<std::int64_t>(value.size()));
    out.append(value);
    out.append("\r\n", 2);
}

void append_null_bulk(std::string& out) { out.append("$-1\r\n", 5); }

void append_array_header(std::string& out, std::int64_t count) { append_number_line(out, '*', count); }

void append_command(std::string& out, const std::vector<std::string_view>& argv) {
    append_array_header(out, static_cast<std::int64_t>(argv.size()));
    for (auto a : argv) append_bulk(out, a);
}

std::string error_reply(std::string_view text) {
    std::string out;
    append_error(out, text);
    return out;
}

}  // namespace herdguard::resp
