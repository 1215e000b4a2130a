// CLIENT KILL through a proxy: a client may kill its own private connection or another client's,
// never a connection shared by other clients. Pure over argv and the registry of shared
// connections, so the policy is unit-tested without Redis.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/upstream/connection_registry.h"
#include "herdguard/upstream/reply_handler.h"

namespace herdguard {

// The refusal to send instead of forwarding, or nullopt when the CLIENT KILL may go to Redis.
// Refused: an ADDR or ID of a shared connection, and filters that could match shared connections
// whatever they are (TYPE, USER, LADDR, MAXAGE).
std::optional<std::string> refuse_client_kill(const std::vector<std::string_view>& argv,
                                              const shared_connection_registry& shared);

// A filtered CLIENT KILL that herdguard refuses still gets Redis's own error first when its
// arguments are wrong (an unknown TYPE or USER, a bad ID, an unknown filter, a filter without a
// value), so clients and tools that probe it see what Redis says. Redis checks them: `probe` is
// the command with its filters cut to whole pairs and `ID 9223372036854775807` added, which no
// connection has (filters are ANDed), so Redis checks every argument in order and kills nothing.
// `dangling`: the last filter had no value, Redis's syntax error once the others are good.
struct client_kill_probe {
    std::vector<std::string_view> argv;
    bool dangling = false;
};
client_kill_probe make_client_kill_probe(const std::vector<std::string_view>& argv);

// Redis's answer to the probe: an error is the client's answer; anything else (":0") means the
// arguments are good, and the client gets `answer` (the refusal, or the syntax error of a
// dangling filter). Deletes itself once it has answered `slot`.
class client_kill_check final : public reply_handler {
public:
    client_kill_check(reply_handler& slot, std::string answer) : slot_(slot), answer_(std::move(answer)) {}
    void on_reply(std::string_view raw) override;
    void on_failure(std::string_view error) override;

private:
    ~client_kill_check() = default;
    reply_handler& slot_;
    std::string answer_;
};

}  // namespace herdguard
