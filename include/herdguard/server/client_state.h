// What herdguard remembers about one client connection, as Redis keeps it per connection: its
// name and library, its protocol, its reply mode, whether it has authenticated, whether it is inside MULTI, on
// the configured database, or relaying a push stream. One struct, so RESET is one call and the
// command planner (command_plan.h) reads the client's state without the session.
//
// Single-threaded: owned by its session.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace herdguard {

enum class reply_mode { on, off, skip };  // CLIENT REPLY ON|OFF|SKIP

struct client_state {
    std::optional<std::string> name;      // CLIENT SETNAME, replayed on a private connection
    std::optional<std::string> lib_name;  // CLIENT SETINFO LIB-NAME
    std::optional<std::string> lib_ver;   // CLIENT SETINFO LIB-VER
    int protocol = 2;                     // RESP2, or 3 after HELLO 3 (RESET: 2 again)
    reply_mode replies = reply_mode::on;
    bool authenticated = true;  // false until AUTH when auth.password / auth.users are set
    bool in_multi = false;      // GETs inside MULTI are plain pass-through (no loads in transactions)
    bool db_default = true;     // routes apply to the configured database only
    std::int64_t db = 0;        // the database it selected (CLIENT LIST's db=), set by the session
    bool relay = false;         // SUBSCRIBE / MONITOR: every command streams through the private connection
    bool tracking = false;      // CLIENT TRACKING ON: reads stay on the tracked (private) connection

    // The state of a fresh connection (RESET): `auth_required` when the proxy asks for AUTH.
    void reset(bool auth_required) {
        *this = client_state{};
        authenticated = !auth_required;
    }

    // CLIENT REPLY OFF/SKIP, for the next reply: true when it is to be dropped (SKIP drops one).
    bool take_suppress() {
        if (replies == reply_mode::on) return false;
        if (replies == reply_mode::skip) replies = reply_mode::on;
        return true;
    }
};

}  // namespace herdguard
