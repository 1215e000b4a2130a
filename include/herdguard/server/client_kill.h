// CLIENT KILL through a proxy: a client may kill its own private connection or another client's,
// never a connection shared by other clients. Pure over argv and the registry of shared
// connections, so the policy is unit-tested without Redis.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/upstream/connection_registry.h"

namespace herdguard {

// The refusal to send instead of forwarding, or nullopt when the CLIENT KILL may go to Redis.
// Refused: an ADDR or ID of a shared connection, and filters that could match shared connections
// whatever they are (TYPE, USER, LADDR, MAXAGE).
std::optional<std::string> refuse_client_kill(const std::vector<std::string_view>& argv,
                                              const shared_connection_registry& shared);

}  // namespace herdguard
