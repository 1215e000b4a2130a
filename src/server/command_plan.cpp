#include "herdguard/server/command_plan.h"

#include "herdguard/resp/request_parser.h"
#include "herdguard/server/local_commands.h"
#include "herdguard/util/strings.h"

namespace herdguard {

namespace {

// INFO's own section goes with the default set: INFO, INFO default / all / everything / herdguard.
bool wants_herdguard_section(const std::vector<std::string_view>& argv) {
    if (argv.size() == 1) return true;
    for (std::size_t i = 1; i < argv.size(); ++i) {
        if (iequals(argv[i], "default") || iequals(argv[i], "all") || iequals(argv[i], "everything") ||
            iequals(argv[i], "herdguard"))
            return true;
    }
    return false;
}

transaction_effect transaction_of(std::string_view name) {
    if (iequals(name, "multi")) return transaction_effect::begins;
    if (iequals(name, "exec") || iequals(name, "discard")) return transaction_effect::ends;
    return transaction_effect::none;
}

// HELLO [protover [AUTH user pass] [SETNAME name]]. Without a version Redis answers on the
// client's current connection. A bad version or option is answered here, with Redis's error, so
// the client's protocol never changes on a HELLO that Redis would refuse. AUTH that reaches Redis
// (herdguard does not check clients itself) authenticates a connection: the client's own one.
// SETNAME is kept by the session (and stays on a private connection, where it belongs).
void plan_hello(const std::vector<std::string_view>& argv, command_plan& p) {
    if (argv.size() < 2) return;
    std::int64_t ver = 0;
    if (!resp::parse_int64(argv[1], ver) || ver < 2 || ver > 3) {
        p.local = true;
        return;
    }
    for (std::size_t i = 2; i < argv.size(); ++i) {
        if (iequals(argv[i], "auth") && i + 2 < argv.size()) {
            p.open_private = true;
            i += 2;
        } else if (iequals(argv[i], "setname") && i + 1 < argv.size()) {
            if (check_client_name(argv[i + 1])) {  // refused before anything opens or switches
                p.local = true;
                return;
            }
            i += 1;
        } else {
            p.local = true;  // Redis's syntax error, answered by answer_hello()
            return;
        }
    }
    p.hello_protocol = static_cast<int>(ver);
}

}  // namespace

// One switch over the command kinds, longer than 60 lines on purpose: every rule of where a
// command runs is in this one place, side by side, which is the point of a planner.
command_plan plan_command(const std::vector<std::string_view>& argv, command_kind kind, const client_state& state,
                          const planning_context& ctx) {
    command_plan p;
    p.kind = kind;
    if (argv.empty()) return p;
    switch (kind) {
        case command_kind::forward:
            // Routes apply to plain GET / MGET on the configured database, outside transactions.
            if (ctx.routes_configured && state.db_default && !state.in_multi && !state.relay && !state.tracking) {
                if (argv.size() == 2 && iequals(argv[0], "get")) p.reads = read_through::get;
                else if (argv.size() >= 2 && iequals(argv[0], "mget")) p.reads = read_through::mget;
            }
            p.transaction = transaction_of(argv[0]);
            break;
        case command_kind::info:
            if (argv.size() == 2 && iequals(argv[1], "herdguard")) p.local = true;
            else p.info_section = wants_herdguard_section(argv);
            break;
        case command_kind::needs_private:
            p.open_private = true;
            p.no_timeout = is_blocking(argv);
            p.transaction = transaction_of(argv[0]);
            break;
        case command_kind::relay:
            p.open_private = true;
            p.no_timeout = true;
            break;
        case command_kind::ping:
        case command_kind::echo:
            // Inside a private connection these may be queued by MULTI: let Redis answer.
            p.local = !ctx.has_private;
            break;
        case command_kind::quit:
        case command_kind::herdguard:
            p.local = true;
            break;
        case command_kind::cluster_only:
            p.local = !ctx.has_private;  // the client's own connection: Redis answers (or queues)
            break;
        case command_kind::unsubscribe:
            // Outside a subscription (the relay never plans): Redis's answer for no subscriptions,
            // one reply per channel, which would put a shared connection out of step.
            p.local = !state.in_multi;
            break;
        case command_kind::reset:
            p.local = true;
            p.barrier = true;
            break;
        case command_kind::hello:
            plan_hello(argv, p);
            break;
        case command_kind::select: {
            if (ctx.cluster) {  // a cluster has database 0 only: OK or Redis's cluster-mode error
                p.local = true;
                break;
            }
            if (ctx.has_private) break;
            std::int64_t db = 0;
            if (argv.size() == 2 && resp::parse_int64(argv[1], db)) {
                if (db == ctx.configured_db) p.local = true;  // already there
                else p.open_private = true;
            }
            break;  // anything else: Redis answers the error, state unchanged
        }
        case command_kind::client:
            p.client = classify_client(argv);
            switch (p.client) {
                case client_subcommand::local_name:
                    p.local = !ctx.has_private;
                    break;
                case client_subcommand::local_reply:
                    p.local = true;
                    break;
                case client_subcommand::unsupported:
                    p.local = !ctx.has_private;  // honoured by Redis on the client's own connection
                    break;
                case client_subcommand::shared:
                case client_subcommand::list:
                    break;
                case client_subcommand::kill:
                case client_subcommand::id:
                case client_subcommand::needs_private:
                    p.open_private = true;
                    break;
            }
            break;
    }
    return p;
}

}  // namespace herdguard
