// What herdguard does with each command: forward it on a shared pipelined connection, give the
// client a private Redis connection (stateful modes), relay a push stream, or answer locally.
// Pure functions over argv, so the routing rules are unit-tested without sockets.
#pragma once

#include <charconv>
#include <utility>
#include <string_view>
#include <system_error>
#include <vector>

#include "herdguard/util/strings.h"

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
    info,          // INFO: Redis's sections plus "# Herdguard"; INFO herdguard answered locally
    herdguard,     // HERDGUARD ROUTES|STATS|FLIGHTS|CONFIG|HELP: answered locally
    cluster_only,  // READONLY, READWRITE: a standalone Redis's error, answered locally
    unsubscribe,   // UNSUBSCRIBE family outside a subscription: answered locally (no subscriptions)
};

// Classifies by command name (argv[0]) and, where it matters (XREAD ... BLOCK), the arguments.
command_kind classify(const std::vector<std::string_view>& argv);

// True for commands that may wait in Redis indefinitely (BLPOP, WAIT, XREAD ... BLOCK ...): they
// get a private connection and no command_timeout.
bool is_blocking(const std::vector<std::string_view>& argv);

enum class client_subcommand {
    local_name,   // SETNAME / GETNAME / SETINFO: kept by the session, replayed on a private conn
    local_reply,  // REPLY ON|OFF|SKIP: applied by the session to its own reply stream
    shared,       // server-wide, harmless on a shared connection: PAUSE, UNPAUSE, HELP, NO-TOUCH?
    kill,         // needs a check that it cannot hit the proxy's shared connections
    // Per-connection settings herdguard cannot honour on a shared connection, sent by clients at
    // connect (NO-EVICT, NO-TOUCH, MAINT_NOTIFICATIONS): answered as a Redis without the feature
    // answers, never costing a private connection (answer_client(), docs/COMPATIBILITY.md).
    unsupported,
    // LIST and INFO: Redis's reply (where the client's commands go) merged with herdguard's own
    // clients (client_directory.h), so apps are listed, not herdguard's connections.
    list,
    id,           // the private connection's id, which its listing then shows (client_directory.h)
    needs_private // reads or changes per-connection state: TRACKING, CACHING, GETREDIR, ...
};
client_subcommand classify_client(const std::vector<std::string_view>& argv);

// Calls `fn` for each key a write command modifies (SET, DEL, EXPIRE, MSET, RENAME...), so
// stale-set protection can revoke leases on routed keys. Read-only commands call nothing.
template <class Fn>
void for_each_written_key(const std::vector<std::string_view>& argv, Fn&& fn);

enum class key_positions { none, first, all, pairs, first_two, script };
key_positions written_key_positions(std::string_view command);

// Where a write command's keys are, and whether it only gives them values (SET, MSET, INCR...),
// which the lease's write-back detects itself, or may take them away or change only their TTL
// (DEL, EXPIRE, RENAME, scripts...), which needs the lease revoked (herd_engine::revoke).
struct write_spec {
    key_positions keys = key_positions::none;
    bool sets_value = false;
};
write_spec written_keys_of(std::string_view command);

// The same walk as for_each_written_key, over keys already looked up.
template <class Fn>
void for_each_key_at(const std::vector<std::string_view>& argv, key_positions where, Fn&& fn);

template <class Fn>
void for_each_written_key(const std::vector<std::string_view>& argv, Fn&& fn) {
    if (argv.size() < 2) return;
    for_each_key_at(argv, written_key_positions(argv[0]), std::forward<Fn>(fn));
}

template <class Fn>
void for_each_key_at(const std::vector<std::string_view>& argv, key_positions where, Fn&& fn) {
    if (argv.size() < 2) return;
    switch (where) {
        case key_positions::none: return;
        case key_positions::first: fn(argv[1]); return;
        case key_positions::all:
            for (std::size_t i = 1; i < argv.size(); ++i) fn(argv[i]);
            return;
        case key_positions::pairs:
            for (std::size_t i = 1; i < argv.size(); i += 2) fn(argv[i]);
            return;
        case key_positions::first_two:
            fn(argv[1]);
            if (argv.size() > 2) fn(argv[2]);
            return;
        case key_positions::script: {  // EVAL script numkeys key... arg...: the script may write any
            std::size_t n = 0;
            if (argv.size() < 3) return;
            const auto count = argv[2];
            if (std::from_chars(count.data(), count.data() + count.size(), n).ec != std::errc()) return;
            for (std::size_t i = 3; i < argv.size() && i - 3 < n; ++i) fn(argv[i]);
            return;
        }
    }
}

}  // namespace herdguard
