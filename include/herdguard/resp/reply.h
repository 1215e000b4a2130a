// Encoding of the replies herdguard writes itself (everything else is Redis's bytes, forwarded).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace herdguard::resp {

void append_simple(std::string& out, std::string_view text);   // +text\r\n
void append_error(std::string& out, std::string_view text);    // -text\r\n (text has its prefix)
void append_integer(std::string& out, std::int64_t value);     // :n\r\n
void append_bulk(std::string& out, std::string_view value);    // $len\r\nvalue\r\n
void append_null_bulk(std::string& out);                       // $-1\r\n
void append_array_header(std::string& out, std::int64_t count);// *n\r\n

// Encodes argv as a multibulk request (for inline requests and herdguard's own commands).
void append_command(std::string& out, std::span<const std::string_view> argv);
inline void append_command(std::string& out, std::initializer_list<std::string_view> argv) {
    append_command(out, std::span<const std::string_view>(argv.begin(), argv.size()));
}

std::string error_reply(std::string_view text);  // "-" + text + "\r\n", newlines stripped

}  // namespace herdguard::resp
