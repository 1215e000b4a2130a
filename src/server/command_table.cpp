#include "herdguard/server/command_table.h"

#include <array>
#include <cctype>
#include <string>
#include <unordered_map>

namespace herdguard {

namespace {

// What a command name means here; `blocking` marks commands that may wait in Redis indefinitely
// (no command_timeout for them). One table, so the two facts cannot drift apart.
struct command_info {
    command_kind kind;
    bool blocking = false;
};

const std::unordered_map<std::string_view, command_info>& table() {
    static const std::unordered_map<std::string_view, command_info> t = {
        // Transactions: the queued commands and WATCHed keys live on one Redis connection.
        {"multi", {command_kind::needs_private}},
        {"watch", {command_kind::needs_private}},
        // Blocking: would stall every client sharing the connection.
        {"blpop", {command_kind::needs_private, true}},
        {"brpop", {command_kind::needs_private, true}},
        {"brpoplpush", {command_kind::needs_private, true}},
        {"blmove", {command_kind::needs_private, true}},
        {"blmpop", {command_kind::needs_private, true}},
        {"bzpopmin", {command_kind::needs_private, true}},
        {"bzpopmax", {command_kind::needs_private, true}},
        {"bzmpop", {command_kind::needs_private, true}},
        {"wait", {command_kind::needs_private, true}},
        {"waitaof", {command_kind::needs_private, true}},
        // Connection identity and cluster-mode flags are per connection.
        {"auth", {command_kind::needs_private}},
        {"readonly", {command_kind::cluster_only}},
        {"readwrite", {command_kind::cluster_only}},
        {"asking", {command_kind::needs_private}},
        // Push streams.
        {"subscribe", {command_kind::relay}},
        {"psubscribe", {command_kind::relay}},
        {"ssubscribe", {command_kind::relay}},
        {"monitor", {command_kind::relay}},
        // Outside a subscription: nothing to leave (inside one, the relay takes every command).
        {"unsubscribe", {command_kind::unsubscribe}},
        {"punsubscribe", {command_kind::unsubscribe}},
        {"sunsubscribe", {command_kind::unsubscribe}},
        // Answered by herdguard.
        {"ping", {command_kind::ping}},
        {"echo", {command_kind::echo}},
        {"quit", {command_kind::quit}},
        {"hello", {command_kind::hello}},
        {"select", {command_kind::select}},
        {"reset", {command_kind::reset}},
        {"client", {command_kind::client}},
        {"info", {command_kind::info}},
        {"herdguard", {command_kind::herdguard}},
    };
    return t;
}

// Lower-cases a short name into a stack buffer; longer names are no command we special-case.
bool lower_name(std::string_view name, std::array<char, 32>& buf, std::string_view& out) {
    if (name.size() > buf.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i)
        buf[i] = ascii_lower(name[i]);
    out = std::string_view(buf.data(), name.size());
    return true;
}

bool has_block_option(const std::vector<std::string_view>& argv) {
    // XREAD [COUNT n] [BLOCK ms] STREAMS ...: options come before STREAMS.
    for (std::size_t i = 1; i < argv.size(); ++i) {
        if (iequals(argv[i], "streams")) return false;
        if (iequals(argv[i], "block")) return true;
    }
    return false;
}

}  // namespace

command_kind classify(const std::vector<std::string_view>& argv) {
    if (argv.empty()) return command_kind::forward;
    std::array<char, 32> buf{};
    std::string_view name;
    if (!lower_name(argv[0], buf, name)) return command_kind::forward;
    if (name == "xread" || name == "xreadgroup")
        return has_block_option(argv) ? command_kind::needs_private : command_kind::forward;
    const auto& t = table();
    auto it = t.find(name);
    return it == t.end() ? command_kind::forward : it->second.kind;
}

bool is_blocking(const std::vector<std::string_view>& argv) {
    if (argv.empty()) return false;
    std::array<char, 32> buf{};
    std::string_view name;
    if (!lower_name(argv[0], buf, name)) return false;
    if (name == "xread" || name == "xreadgroup") return has_block_option(argv);
    const auto& t = table();
    auto it = t.find(name);
    return it != t.end() && it->second.blocking;
}

// `sets_value`: every key the command writes is given a value (or a new type), which the lease's
// write-back sees for itself (herd/lease_scripts.h), so no revoke is needed; the rest take a value
// away or change only its TTL (or are scripts, which may do anything) and revoke.
write_spec written_keys_of(std::string_view command) {
    using kp = key_positions;
    static const std::unordered_map<std::string_view, write_spec> writes = {
        {"set", {kp::first, true}},         {"setex", {kp::first, true}},
        {"psetex", {kp::first, true}},      {"setnx", {kp::first, true}},
        {"getset", {kp::first, true}},      {"getdel", {kp::first, false}},
        {"getex", {kp::first, false}},      {"append", {kp::first, true}},
        {"setrange", {kp::first, true}},    {"incr", {kp::first, true}},
        {"incrby", {kp::first, true}},      {"incrbyfloat", {kp::first, true}},
        {"decr", {kp::first, true}},        {"decrby", {kp::first, true}},
        {"expire", {kp::first, false}},     {"pexpire", {kp::first, false}},
        {"expireat", {kp::first, false}},   {"pexpireat", {kp::first, false}},
        {"persist", {kp::first, false}},    {"move", {kp::first, false}},
        {"restore", {kp::first, true}},     {"del", {kp::all, false}},
        {"unlink", {kp::all, false}},       {"mset", {kp::pairs, true}},
        {"msetnx", {kp::pairs, true}},      {"rename", {kp::first_two, false}},
        {"renamenx", {kp::first_two, false}}, {"copy", {kp::first_two, false}},
        {"setbit", {kp::first, true}},      {"bitfield", {kp::first, true}},
        {"eval", {kp::script, false}},      {"evalsha", {kp::script, false}},
        {"fcall", {kp::script, false}},
    };
    std::array<char, 32> buf{};
    std::string_view name;
    if (!lower_name(command, buf, name)) return {};
    auto it = writes.find(name);
    return it == writes.end() ? write_spec{} : it->second;
}

key_positions written_key_positions(std::string_view command) { return written_keys_of(command).keys; }

client_subcommand classify_client(const std::vector<std::string_view>& argv) {
    if (argv.size() < 2) return client_subcommand::shared;  // Redis answers the arity error
    const auto sub = argv[1];
    if (iequals(sub, "setname") || iequals(sub, "getname") || iequals(sub, "setinfo"))
        return client_subcommand::local_name;
    if (iequals(sub, "reply")) return client_subcommand::local_reply;
    if (iequals(sub, "pause") || iequals(sub, "unpause") || iequals(sub, "help"))
        return client_subcommand::shared;
    if (iequals(sub, "kill")) return client_subcommand::kill;
    if (iequals(sub, "list") || iequals(sub, "info")) return client_subcommand::list;
    if (iequals(sub, "id")) return client_subcommand::id;
    if (iequals(sub, "no-evict") || iequals(sub, "no-touch") || iequals(sub, "maint_notifications"))
        return client_subcommand::unsupported;
    return client_subcommand::needs_private;
}

}  // namespace herdguard
