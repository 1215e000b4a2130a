// Finds where one reply from Redis ends, RESP2 or RESP3, without copying or building objects, so
// the pass-through path can hand the exact bytes back to the client. Resumable: a large reply
// that arrives in many reads is scanned once, not once per read. What the reply is (error, null,
// push...) is reply_view's business, on the bytes this delimits.
//
// RESP3: maps count two elements per entry; an attribute ("|") and the reply it annotates are
// one reply; a push (">") is framed like any reply, and it is the caller that routes it.
// Streamed strings and aggregates ("$?", "*?") are refused: Redis does not send them.
//
// No recursion and no depth limit: the open levels are an explicit stack (one count per level),
// so a reply nested 10,000 deep costs 80 KB here and no C++ stack. What bounds it is the reply's
// size, as for any reply.
//
// Why not hiredis's redisReader here: it builds a redisReply tree (one allocation per element)
// that we would only serialise back, and 0.14 refuses nesting deeper than 7 levels, which EVAL
// can return. docs/DESIGN.md records the measurement (bench/framer_bench).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace herdguard::resp {

enum class frame_status { complete, need_more, error };

class reply_framer {
public:
    // `data` must start at the first byte of the reply, and on a resumed call contain at least
    // what the previous call saw. On complete, `length` is the reply's size in bytes and the
    // framer is ready for the next reply.
    frame_status feed(std::string_view data, std::size_t& length);

    const std::string& error() const { return error_; }
    void reset();

private:
    std::size_t pos_ = 0;                // bytes of the current reply already accepted
    std::vector<std::int64_t> pending_;  // elements still expected at each open array level
    std::string error_;
};

}  // namespace herdguard::resp
