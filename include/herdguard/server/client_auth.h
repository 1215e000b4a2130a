// Client authentication, when auth.password or auth.users is set (otherwise AUTH goes to Redis
// on a private connection, as it would without a proxy). Pure: the session passes the request's
// argv and the client's state, and queues the reply when there is one.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/config/config.h"
#include "herdguard/server/client_state.h"
#include "herdguard/server/command_table.h"

namespace herdguard {

struct auth_verdict {
    // The reply when the request was answered here (AUTH, -NOAUTH, a failed HELLO ... AUTH);
    // nullopt when it goes on as usual.
    std::optional<std::string> reply;
    // HELLO ... AUTH user pass authenticated here: argv no longer holds the credentials (Redis
    // sees the HELLO without them), so the request must be re-encoded from argv.
    bool argv_rewritten = false;
};

// Until AUTH, every command but AUTH, HELLO ... AUTH, QUIT and RESET gets -NOAUTH, as in Redis.
// `kind` is classify(argv).
auth_verdict auth_gate(std::vector<std::string_view>& argv, command_kind kind, const auth_config& auth,
                       client_state& state);

// Without auth (herdguard does not check clients), AUTH and HELLO ... AUTH go to Redis on a private
// connection, as AUTH authenticates a connection. Credentials that are exactly the shared
// connections' own (redis.username, or "default" without one, and redis.password) would only
// make that private connection what the shared ones are already: AUTH is answered +OK here, and
// HELLO's AUTH option is taken out (argv_rewritten), so neither costs a private connection.
// Anything else: nullopt, unchanged.
auth_verdict redis_credentials_gate(std::vector<std::string_view>& argv, command_kind kind, const redis_config& redis);

// AUTH [user] password against auth.password (user "default") and auth.users, in constant time
// over every user. "+OK\r\n" (and state.authenticated) or -WRONGPASS; a failed AUTH leaves an
// earlier authentication in place, as in Redis 6+.
std::string check_credentials(const auth_config& auth, std::string_view user, std::string_view password,
                              client_state& state);

}  // namespace herdguard
