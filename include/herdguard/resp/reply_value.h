// A reply as a small tree, for herdguard's own commands to Redis (the lease scripts, SET, DEL),
// whose replies it must read rather than pass on. Built from the bytes reply_framer delivers,
// with reply_view for each scalar: the same reader as the pass-through path, so there is one
// reading of RESP in herdguard (hiredis remains only in the tests' and benchmarks' clients).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/resp/reply_view.h"

namespace herdguard::resp {

struct reply_value {
    reply_type type = reply_type::null;
    std::string str;           // simple and bulk strings; an error's text without its type byte
    std::int64_t integer = 0;  // integer replies
    std::vector<reply_value> elements;  // arrays (RESP3 sets and pushes too)
    bool is_error() const { return type == reply_type::error || type == reply_type::bulk_error; }
};

// Decodes one complete reply. Bytes that are not one (truncated, a type herdguard never asks
// Redis for) decode to an error value, "ERR herdguard: unreadable reply from redis".
reply_value decode_reply(std::string_view raw);

}  // namespace herdguard::resp
