// HERDGUARD ROUTES | STATS [route] | FLIGHTS | CONFIG | HELP: answered by herdguard itself, for
// operators looking inside with redis-cli. Read-only: routes cannot be changed over RESP.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herdguard {

struct server_state;

// The complete RESP reply to a HERDGUARD command, for a client of `protocol` (2 or 3: its
// key-value replies are maps in RESP3).
std::string herdguard_command(const std::vector<std::string_view>& argv, const server_state& state, int protocol = 2);

}  // namespace herdguard
