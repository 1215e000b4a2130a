// Where one client command runs and what it changes, decided from its argv and the client's
// state alone: a plan is data, computed without side effects, so the session may plan a command,
// wait for earlier replies, and plan it again. Executing the plan (opening a private connection,
// sending, answering) is the session's I/O.
//
// This is the one place that decides a command's identity: the session and its handlers read
// the plan's fields instead of comparing argv[0] again.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "herdguard/server/client_state.h"
#include "herdguard/server/command_table.h"

namespace herdguard {

// What the planner needs besides the command and the client state.
struct planning_context {
    bool has_private = false;        // the client already holds a private Redis connection
    bool routes_configured = false;  // at least one route: GET and MGET may be read-through
    std::int64_t configured_db = 0;  // redis.database: SELECT of it stays on the shared connection
    bool cluster = false;            // redis.cluster: SELECT is answered here (0 only, as a cluster)
};

// A GET or MGET that may be read-through. Which routes match is the herd engine's business: the
// session looks the keys up, and a key no route matches is a plain GET.
enum class read_through { none, get, mget };

// MULTI opens a transaction, EXEC and DISCARD end it (routing is off in between).
enum class transaction_effect { none, begins, ends };

struct command_plan {
    command_kind kind = command_kind::forward;
    // Answered by herdguard; otherwise sent to Redis: on the client's private connection when it
    // has (or opens) one, else on the worker's shared connection. Read-through reads always go
    // on the shared connection.
    bool local = false;
    bool open_private = false;  // needs the private connection first (opened by the session)
    bool no_timeout = false;    // blocking or push stream: no command_timeout
    bool barrier = false;       // wait for every outstanding reply first (RESET)
    read_through reads = read_through::none;
    transaction_effect transaction = transaction_effect::none;
    bool info_section = false;  // INFO answered by Redis gets the "# Herdguard" section appended
    // HELLO 2 / HELLO 3 (valid options): the protocol the client speaks from this command on. Sent
    // to Redis on a connection that already speaks it (never switching a shared connection).
    int hello_protocol = 0;
    client_subcommand client = client_subcommand::shared;  // for kind == client
};

command_plan plan_command(const std::vector<std::string_view>& argv, command_kind kind, const client_state& state,
                          const planning_context& ctx);
inline command_plan plan_command(const std::vector<std::string_view>& argv, const client_state& state,
                                 const planning_context& ctx) {
    return plan_command(argv, classify(argv), state, ctx);
}

}  // namespace herdguard
