// Where a Redis command's first key is: the key Redis hashes the command on (its slot, in a
// cluster). The backends that address by key (backend.h) ask here, and only they: a single Redis
// never computes it, so the pass-through path of today pays nothing for it.
//
// Follows the key specs of Redis 7 (COMMAND INFO ... "key_specs"; COMMAND GETKEYS answers the
// same), for the commands whose first key is not argv[1]:
//  - keyless: server, connection, scripting-admin and pub/sub commands (PING, INFO, KEYS, SCAN,
//    FLUSHALL, SCRIPT, PUBLISH, MULTI, EXEC ...) have none;
//  - numkeys first: ZUNION/ZINTER/ZDIFF/ZINTERCARD/SINTERCARD/LMPOP/ZMPOP 2 ..., keys from argv[2];
//  - after a timeout: BLMPOP/BZMPOP timeout numkeys key ...;
//  - scripts: EVAL/EVALSHA/FCALL (and _RO) script numkeys key ..., none when numkeys is 0;
//  - after a token: XREAD/XREADGROUP ... STREAMS key ...;
//  - after a subcommand or operator: OBJECT/MEMORY USAGE/XINFO/XGROUP sub key, BITOP op dest;
//  - MIGRATE host port key|"" db timeout ... [KEYS key ...].
// Anything else (and every command Redis adds later with the usual shape) has it at argv[1].
#pragma once

#include <span>
#include <string_view>

namespace herdguard::resp {

// "" when the command has no key (or too few arguments to have one).
std::string_view first_key(std::span<const std::string_view> argv);

}  // namespace herdguard::resp
