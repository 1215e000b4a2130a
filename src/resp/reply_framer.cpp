#include "herdguard/resp/reply_framer.h"

#include <cstdint>
#include <cstring>

#include "herdguard/resp/request_parser.h"

namespace herdguard::resp {

void reply_framer::reset() {
    pos_ = 0;
    pending_.clear();
    error_.clear();
}

// One resumable loop over the reply's lines, longer than 60 lines on purpose: it is the
// pass-through path's per-reply cost, and its state lives in members between calls, so helpers
// would add calls per line without making the states easier to follow.
frame_status reply_framer::feed(std::string_view data, std::size_t& length) {
    while (true) {
        if (pos_ >= data.size()) return frame_status::need_more;
        const char* line = data.data() + pos_;
        const void* cr = std::memchr(line, '\r', data.size() - pos_);
        if (cr == nullptr) return frame_status::need_more;
        std::size_t eol = static_cast<const char*>(cr) - data.data();
        if (eol + 1 >= data.size()) return frame_status::need_more;
        if (data[eol + 1] != '\n') {
            error_ = "missing LF after CR";
            return frame_status::error;
        }
        char type = *line;
        std::string_view header = data.substr(pos_ + 1, eol - pos_ - 1);
        std::size_t next = eol + 2;
        switch (type) {
            case '+':  // simple string
            case '-':  // simple error
            case ':':  // integer
            case '_':  // RESP3: null
            case ',':  // RESP3: double
            case '#':  // RESP3: boolean
            case '(':  // RESP3: big number
                break;
            case '$':  // bulk string; $-1 is RESP2's null
            case '!':  // RESP3: bulk error
            case '=': {  // RESP3: verbatim string
                std::int64_t len = 0;
                if (!parse_int64(header, len) || len < (type == '$' ? -1 : 0)) {
                    error_ = "invalid bulk length from redis";
                    return frame_status::error;
                }
                if (len >= 0) {
                    std::size_t end = next + static_cast<std::size_t>(len) + 2;
                    if (end > data.size()) return frame_status::need_more;
                    next = end;
                }
                break;
            }
            case '*':    // array; *-1 is RESP2's null array
            case '~':    // RESP3: set
            case '>':    // RESP3: push
            case '%':    // RESP3: map, two elements per entry
            case '|': {  // RESP3: attribute, two per entry, then the reply it annotates
                std::int64_t count = 0;
                if (!parse_int64(header, count) || count < (type == '*' ? -1 : 0) ||
                    count > (INT64_MAX - 1) / 2) {
                    error_ = "invalid aggregate length from redis";
                    return frame_status::error;
                }
                // An attribute and the reply after it are one element of the parent (or one
                // reply): its level holds both.
                const std::int64_t elements = type == '%' ? 2 * count : type == '|' ? 2 * count + 1 : count;
                if (elements > 0) {
                    // No depth limit: Redis itself nests as deep as a script's table goes (a
                    // self-referencing one stops only at Lua's stack limit), and a level costs
                    // 8 bytes here for the 4 or more bytes of its header, so the depth is bounded
                    // by the reply's size, which the connection already holds in its buffer.
                    // Account for this element in its parent, then open a new level.
                    if (!pending_.empty()) --pending_.back();
                    pending_.push_back(elements);
                    pos_ = next;
                    continue;
                }
                break;
            }
            default:
                // Also RESP3's streamed strings and aggregates ("$?", "*?"): Redis never sends them.
                error_ = std::string("unexpected reply type byte '") + type + "'";
                return frame_status::error;
        }
        pos_ = next;
        // One scalar (or empty/nil array) finished: close every level it completes.
        if (!pending_.empty()) --pending_.back();
        while (!pending_.empty() && pending_.back() == 0) pending_.pop_back();
        if (pending_.empty()) {
            length = pos_;
            pos_ = 0;
            return frame_status::complete;
        }
    }
}

}  // namespace herdguard::resp
