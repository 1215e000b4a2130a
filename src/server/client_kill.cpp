#include "herdguard/server/client_kill.h"

#include "herdguard/resp/reply_view.h"
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

client_kill_probe make_client_kill_probe(const std::vector<std::string_view>& argv) {
    client_kill_probe p;
    const std::size_t options = argv.size() > 2 ? argv.size() - 2 : 0;
    p.dangling = options % 2 == 1;
    p.argv.assign(argv.begin(), argv.end() - (p.dangling ? 1 : 0));
    p.argv.push_back("ID");
    p.argv.push_back("9223372036854775807");  // LONG_MAX: Redis's ids count up from 1
    return p;
}

void client_kill_check::on_reply(std::string_view raw) {
    auto& slot = slot_;
    const bool wrong = resp::reply_view(raw).is_error();
    const std::string answer = wrong ? std::string(raw) : std::move(answer_);
    delete this;
    slot.on_reply(answer);
}

void client_kill_check::on_failure(std::string_view error) {
    auto& slot = slot_;
    delete this;
    slot.on_failure(error);
}

}  // namespace herdguard
