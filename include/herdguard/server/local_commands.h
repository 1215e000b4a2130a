// The replies herdguard writes itself, for the commands a plan marks local (command_plan.h):
// PING, ECHO, QUIT, HELLO of a version other than 2, SELECT of the configured db, RESET and the
// CLIENT subcommands kept per client. Pure functions of argv and the client's state, so each
// answer is unit-tested without a socket; the session only queues what they return.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/server/client_state.h"
#include "herdguard/server/command_table.h"

namespace herdguard {

using argv_view = std::vector<std::string_view>;

// Redis's arity error: "-ERR wrong number of arguments for 'name' command".
std::string wrong_arity(std::string_view name);

// PING [message] and ECHO message: the argument comes back.
std::string answer_ping_echo(const argv_view& argv, command_kind kind);

// HELLO with a version Redis refuses, or an option it does not take (command_plan.cpp's
// plan_hello() sends the others to Redis): Redis's error.
std::string answer_hello(const argv_view& argv);

// UNSUBSCRIBE / PUNSUBSCRIBE / SUNSUBSCRIBE of a client with no subscriptions: Redis's answer,
// one "<command> <channel> 0" per channel (one with a null channel when none is named), as
// pushes in RESP3.
std::string answer_unsubscribe(const argv_view& argv, int protocol);

// CLIENT SETNAME's (and HELLO ... SETNAME's) check: Redis's error for a name with spaces,
// newlines or special characters, or nullopt.
std::optional<std::string> check_client_name(std::string_view name);

// CLIENT SETNAME / GETNAME / SETINFO / REPLY, kept in `state`. nullopt: no reply at all (CLIENT
// REPLY OFF and SKIP are not answered, as in Redis).
std::optional<std::string> answer_client(const argv_view& argv, client_subcommand sub, client_state& state);

// Keeps the client's copy of what a CLIENT command sent to Redis set (SETNAME on a private
// connection), for RESET and for the replay on a later private connection.
void note_forwarded_client(const argv_view& argv, client_subcommand sub, client_state& state);

// SELECT's effect on routing: routes apply while the client is on the configured database. A
// SELECT that Redis refuses leaves the db as it was; assuming it changed only turns routing off
// for this client, the safe direction.
void note_select(const argv_view& argv, std::int64_t configured_db, client_state& state);

}  // namespace herdguard
