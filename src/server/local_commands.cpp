#include "herdguard/server/local_commands.h"

#include "herdguard/resp/reply.h"
#include "herdguard/resp/request_parser.h"
#include "herdguard/util/strings.h"

namespace herdguard {

std::string wrong_arity(std::string_view name) {
    return resp::error_reply("ERR wrong number of arguments for '" + ascii_lower(name) + "' command");
}

std::string answer_ping_echo(const argv_view& argv, command_kind kind) {
    if (kind == command_kind::ping && argv.size() == 1) return "+PONG\r\n";
    if (argv.size() != 2) return wrong_arity(argv[0]);
    std::string out;
    resp::append_bulk(out, argv[1]);
    return out;
}

std::string answer_hello(const argv_view& argv) {
    std::int64_t ver = 0;
    if (!resp::parse_int64(argv[1], ver)) return "-ERR Protocol version is not an integer or out of range\r\n";
    if (ver < 2 || ver > 3) return "-NOPROTO unsupported protocol version\r\n";
    // A version Redis takes, with an option it does not (plan_hello() let only these through).
    for (std::size_t i = 2; i < argv.size(); ++i) {
        const bool auth = iequals(argv[i], "auth") && i + 2 < argv.size();
        const bool setname = iequals(argv[i], "setname") && i + 1 < argv.size();
        if (!auth && !setname) return resp::error_reply("ERR Syntax error in HELLO option '" + std::string(argv[i]) + "'");
        if (setname) {
            if (auto refused = check_client_name(argv[i + 1])) return *refused;
        }
        i += auth ? 2 : 1;
    }
    return resp::error_reply("ERR Syntax error in HELLO");
}

std::string answer_unsubscribe(const argv_view& argv, int protocol) {
    const auto version = static_cast<resp::protocol_version>(protocol);
    const std::string name = ascii_lower(argv[0]);
    auto one = [&](std::string& out, const std::string_view* channel) {
        out += version == resp::protocol_version::resp3 ? ">3\r\n" : "*3\r\n";
        resp::append_bulk(out, name);
        if (channel != nullptr) resp::append_bulk(out, *channel);
        else out += resp::null_reply(version);
        resp::append_integer(out, 0);
    };
    std::string out;
    if (argv.size() == 1) one(out, nullptr);
    for (std::size_t i = 1; i < argv.size(); ++i) one(out, &argv[i]);
    return out;
}

std::optional<std::string> check_client_name(std::string_view name) {
    for (char c : name) {
        if (c < '!' || c > '~') return "-ERR Client names cannot contain spaces, newlines or special characters.\r\n";
    }
    return std::nullopt;
}

namespace {

std::optional<std::string> answer_reply_mode(const argv_view& argv, client_state& state) {
    if (argv.size() != 3) return wrong_arity("client|reply");
    if (iequals(argv[2], "on")) {
        state.replies = reply_mode::on;
        return "+OK\r\n";
    }
    if (iequals(argv[2], "off")) {
        state.replies = reply_mode::off;
        return std::nullopt;
    }
    if (iequals(argv[2], "skip")) {
        if (state.replies == reply_mode::on) state.replies = reply_mode::skip;
        return std::nullopt;
    }
    return "-ERR syntax error\r\n";
}

// NO-EVICT / NO-TOUCH OFF is what a shared connection already is: +OK, as Redis says. ON, and
// MAINT_NOTIFICATIONS, cannot be had on a shared connection: Redis's answer when it lacks the
// subcommand, which clients take as "not supported here" and carry on.
std::string answer_unsupported(const argv_view& argv) {
    const bool no_flag = iequals(argv[1], "no-evict") || iequals(argv[1], "no-touch");
    if (no_flag && argv.size() == 3 && iequals(argv[2], "off")) return "+OK\r\n";
    return resp::error_reply("ERR unknown subcommand '" + std::string(argv[1]) + "'. Try CLIENT HELP.");
}

}  // namespace

std::optional<std::string> answer_client(const argv_view& argv, client_subcommand sub, client_state& state) {
    if (sub == client_subcommand::local_reply) return answer_reply_mode(argv, state);
    if (sub == client_subcommand::unsupported) return answer_unsupported(argv);
    // SETNAME / GETNAME / SETINFO, kept here and replayed on a private connection if one opens.
    if (iequals(argv[1], "getname")) {
        if (argv.size() != 2) return wrong_arity("client|getname");
        std::string out;
        if (state.name && !state.name->empty()) resp::append_bulk(out, *state.name);
        else out = resp::null_reply(static_cast<resp::protocol_version>(state.protocol));
        return out;
    }
    if (iequals(argv[1], "setname")) {
        if (argv.size() != 3) return wrong_arity("client|setname");
        if (auto refused = check_client_name(argv[2])) return refused;
        state.name = std::string(argv[2]);
        return "+OK\r\n";
    }
    // SETINFO
    if (argv.size() != 4) return wrong_arity("client|setinfo");
    if (iequals(argv[2], "lib-name")) state.lib_name = std::string(argv[3]);
    else if (iequals(argv[2], "lib-ver")) state.lib_ver = std::string(argv[3]);
    else return "-ERR Unrecognized option '" + std::string(argv[2]) + "'\r\n";
    return "+OK\r\n";
}

void note_forwarded_client(const argv_view& argv, client_subcommand sub, client_state& state) {
    if (sub == client_subcommand::local_name && argv.size() == 3 && iequals(argv[1], "setname"))
        state.name = std::string(argv[2]);
    // Reads of a tracking client must go where Redis tracks them (command_plan: no read-through).
    // Assumed to succeed: if Redis refuses it, read-through stays off for this client, which is
    // only a missed optimisation.
    if (argv.size() >= 3 && iequals(argv[1], "tracking")) {
        if (iequals(argv[2], "on")) state.tracking = true;
        else if (iequals(argv[2], "off")) state.tracking = false;
    }
}

void note_select(const argv_view& argv, std::int64_t configured_db, client_state& state) {
    std::int64_t db = 0;
    if (argv.size() == 2 && resp::parse_int64(argv[1], db)) {
        state.db_default = db == configured_db;
        state.db = db;
    }
}

}  // namespace herdguard
