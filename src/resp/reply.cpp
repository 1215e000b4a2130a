#include "herdguard/resp/reply.h"

#include <fmt/format.h>

#include <charconv>
#include <cstring>

namespace herdguard::resp {

namespace {
// One append per line, not three.
void append_number_line(std::string& out, char type, std::int64_t value) {
    char buf[24];
    buf[0] = type;
    auto [end, ec] = std::to_chars(buf + 1, buf + sizeof buf - 2, value);
    (void)ec;  // 21 bytes always fit an int64
    end[0] = '\r';
    end[1] = '\n';
    out.append(buf, static_cast<std::size_t>(end + 2 - buf));
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

void reply_writer::null(std::string& out) const { out.append(null_reply(version_)); }

void reply_writer::text(std::string& out, std::string_view text) const {
    if (version_ == protocol_version::resp2) {
        append_bulk(out, text);
        return;
    }
    out += '=';
    out += std::to_string(text.size() + 4);
    out += "\r\ntxt:";
    out.append(text);
    out += "\r\n";
}

void reply_writer::map_header(std::string& out, std::int64_t pairs) const {
    if (version_ == protocol_version::resp3) append_number_line(out, '%', pairs);
    else append_array_header(out, pairs * 2);
}

void reply_writer::set_header(std::string& out, std::int64_t count) const {
    if (version_ == protocol_version::resp3) append_number_line(out, '~', count);
    else append_array_header(out, count);
}

void reply_writer::boolean(std::string& out, bool value) const {
    if (version_ == protocol_version::resp3) out.append(value ? "#t\r\n" : "#f\r\n", 4);
    else append_integer(out, value ? 1 : 0);
}

void reply_writer::double_value(std::string& out, double value) const {
    // Redis writes doubles with %.17g; infinities as inf / -inf.
    std::string text = fmt::format("{:.17g}", value);
    if (version_ == protocol_version::resp3) append_line(out, ',', text);
    else append_bulk(out, text);
}

// Sized once and written in place: herdguard's own commands include a routed GET's PTTL and GET,
// on the hot path, where appending piece by piece cost ~130 more instructions per hit.
void append_command(std::string& out, std::span<const std::string_view> argv) {
    std::size_t most = 1 + 20 + 2;  // "*<count>\r\n"
    for (auto a : argv) most += 1 + 20 + 2 + a.size() + 2;
    const std::size_t start = out.size();
    out.resize(start + most);
    char* p = out.data() + start;
    auto number_line = [&p](char type, std::size_t n) {
        *p++ = type;
        p = std::to_chars(p, p + 20, n).ptr;
        *p++ = '\r';
        *p++ = '\n';
    };
    number_line('*', argv.size());
    for (auto a : argv) {
        number_line('$', a.size());
        if (!a.empty()) std::memcpy(p, a.data(), a.size());
        p += a.size();
        *p++ = '\r';
        *p++ = '\n';
    }
    out.resize(static_cast<std::size_t>(p - out.data()));
}

std::string error_reply(std::string_view text) {
    std::string out;
    append_error(out, text);
    return out;
}

}  // namespace herdguard::resp
