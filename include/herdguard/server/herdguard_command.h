// HERDGUARD ROUTES | STATS [route] | FLIGHTS | CONFIG | HELP: answered by herdguard itself, for
// operators looking inside with redis-cli. Read-only: routes cannot be changed over RESP.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace herdguard {

struct server_state;

// The complete RESP reply to a HERDGUARD command.
std::string herdguard_command(const std::vector<std::string_view>& argv, const server_state& state);

}  // namespace herdguard
