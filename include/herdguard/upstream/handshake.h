// What a new connection to Redis sends before anything else, as data: AUTH as configured, HELLO 3
// on a connection for RESP3 clients, SELECT as configured and, on a shared connection, CLIENT ID (so a client's CLIENT KILL aimed at a shared
// connection can be refused). Pure, so the handshake is unit-tested without a socket; the
// connection writes `bytes` in one go and passes each reply to read_handshake_reply().
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "herdguard/config/config.h"

namespace herdguard {

struct handshake_plan {
    std::string bytes;          // the commands, encoded, for one write
    int replies = 0;            // how many replies to read back
    bool ends_with_client_id = false;  // the last reply is CLIENT ID's
};

// `resp3`: the connection serves RESP3 clients, so Redis must speak RESP3 on it (HELLO 3).
handshake_plan plan_handshake(const redis_config& cfg, bool shared, bool resp3 = false);

// One handshake reply: "" when it is fine, else why the handshake failed ("handshake refused:
// WRONGPASS ..."). When `is_client_id`, an integer reply goes to `client_id`.
std::string read_handshake_reply(std::string_view reply, bool is_client_id, std::int64_t& client_id);

}  // namespace herdguard
