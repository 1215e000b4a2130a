// What herdguard does with each command: forward it on a shared pipelined connection, give the
// client a private Redis connection (stateful modes), relay a push stream, or answer locally.
// Pure functions over argv, so the routing rules are unit-tested without sockets.
#pragma once

#include <string_view>
#include <vector>

namespace herdguard {

enum class command_kind {
    forward,       // plain command: shared connection (or the client's private one, if it has one)
    needs_private, // starts or belongs to per-connection state: MULTI, WATCH, blocking, AUTH, ...
    relay,         // SUBSCRIBE family and MONITOR: replies become a stream of pushes
    ping,          // answered locally (outside private mode)
    echo,
    quit,
    hello,
    select,
    reset,
    client,        // see classify_client()
};

// Classifies by command name (argv[0]) and, where it matters (XREAD ... BLOCK), the arguments.
command_kind classify(const std::vector<std::string_view>& argv);

enum class client_subcommand {
    local_name,   // SETNAME / GETNAME / SETINFO: kept by the session, replayed on a private conn
    local_reply,  // REPLY ON|OFF|SKIP: applied by the session to its own reply stream
    shared,       // server-wide, harmless on a shared connection: PAUSE, UNPAUSE, HELP, NO-TOUCH?
    kill,         // needs a check that it cannot hit the proxy's shared connections
    needs_private // reads or changes per-connection state: ID, INFO, LIST, TRACKING, NO-EVICT, ...
};
client_subcommand classify_client(const std::vector<std::string_view>& argv);

// ASCII case-insensitive comparison, as Redis matches command names.
bool iequals(std::string_view a, std::string_view b);

}  // namespace herdguard
