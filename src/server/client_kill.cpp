#include "herdguard/server/client_kill.h"

#include "herdguard/resp/request_parser.h"
#include "herdguard/util/strings.h"

namespace herdguard {

namespace {
constexpr std::string_view shared_refusal =
    "-ERR herdguard: refusing to kill a redis connection shared by other clients\r\n";
}  // namespace

std::optional<std::string> refuse_client_kill(const std::vector<std::string_view>& argv,
                                              const shared_connection_registry& shared) {
    // CLIENT KILL addr (the old form)
    if (argv.size() == 3 && shared.has_addr(std::string(argv[2]))) return std::string(shared_refusal);
    // CLIENT KILL <filter value>...
    for (std::size_t i = 2; argv.size() > 3 && i + 1 < argv.size(); i += 2) {
        const auto key = argv[i];
        std::int64_t id = 0;
        const bool hits_shared = (iequals(key, "id") && resp::parse_int64(argv[i + 1], id) && shared.has_id(id)) ||
                                 (iequals(key, "addr") && shared.has_addr(std::string(argv[i + 1])));
        if (hits_shared) return std::string(shared_refusal);
        if (iequals(key, "type") || iequals(key, "user") || iequals(key, "laddr") || iequals(key, "maxage")) {
            return std::string(
                "-ERR herdguard: CLIENT KILL by TYPE, USER, LADDR or MAXAGE could disconnect connections shared by "
                "other clients; kill by ID or ADDR\r\n");
        }
    }
    return std::nullopt;
}

}  // namespace herdguard
