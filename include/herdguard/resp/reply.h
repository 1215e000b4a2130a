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

// The protocol a client speaks: RESP2 by default, RESP3 after HELLO 3.
enum class protocol_version { resp2 = 2, resp3 = 3 };

// The null reply of a protocol, as a constant: "$-1\r\n" (RESP2's null bulk string) or "_\r\n".
constexpr std::string_view null_reply(protocol_version v) {
    return v == protocol_version::resp3 ? std::string_view("_\r\n") : std::string_view("$-1\r\n");
}

// Local replies whose encoding depends on the client's protocol. RESP2 has no null, map, set,
// boolean or double types: it writes them as Redis does for a RESP2 connection (a null bulk
// string, a flat array of pairs, an array, the integer 1/0, a bulk string).
class reply_writer {
public:
    explicit reply_writer(protocol_version v = protocol_version::resp2) : version_(v) {}
    protocol_version version() const { return version_; }

    void null(std::string& out) const;                             // $-1 | _
    void map_header(std::string& out, std::int64_t pairs) const;   // *2n | %n
    void set_header(std::string& out, std::int64_t count) const;   // *n  | ~n
    void boolean(std::string& out, bool value) const;              // :1  | #t
    void double_value(std::string& out, double value) const;       // $.. | ,..
    // Text for a human, as Redis writes INFO: a bulk string, or RESP3's verbatim string "txt:".
    void text(std::string& out, std::string_view text) const;      // $.. | =..txt:..

private:
    protocol_version version_;
};

}  // namespace herdguard::resp
