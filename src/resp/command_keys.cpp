#include "herdguard/resp/command_keys.h"

#include <array>
#include <charconv>
#include <unordered_map>

#include "herdguard/util/strings.h"

namespace herdguard::resp {

namespace {

enum class first_key_at {
    none,            // keyless
    argv2,           // after a numkeys, a subcommand or an operator
    argv3,           // BLMPOP/BZMPOP timeout numkeys key
    script_keys,     // script numkeys key ...: argv[3] unless numkeys is 0
    after_streams,   // ... STREAMS key ...
    migrate,         // host port key|"" db timeout [... KEYS key ...]
};

const std::unordered_map<std::string_view, first_key_at>& exceptions() {
    using enum first_key_at;
    static const std::unordered_map<std::string_view, first_key_at> t = {
        // Connection and transaction commands.
        {"ping", none}, {"echo", none}, {"quit", none}, {"hello", none}, {"select", none},
        {"reset", none}, {"client", none}, {"auth", none}, {"multi", none}, {"exec", none},
        {"discard", none}, {"unwatch", none}, {"readonly", none}, {"readwrite", none},
        {"asking", none}, {"wait", none}, {"waitaof", none},
        // Server commands.
        {"info", none}, {"dbsize", none}, {"flushall", none}, {"flushdb", none}, {"keys", none},
        {"scan", none}, {"randomkey", none}, {"time", none}, {"lastsave", none}, {"config", none},
        {"command", none}, {"debug", none}, {"slowlog", none}, {"latency", none}, {"save", none},
        {"bgsave", none}, {"bgrewriteaof", none}, {"shutdown", none}, {"role", none},
        {"replicaof", none}, {"slaveof", none}, {"swapdb", none}, {"acl", none}, {"module", none},
        {"failover", none}, {"lolwut", none}, {"cluster", none}, {"monitor", none},
        {"herdguard", none},
        // Scripting administration; pub/sub channels are not keys (SPUBLISH's shard channel is
        // hashed like one, so it keeps argv[1]).
        {"script", none}, {"function", none}, {"publish", none}, {"pubsub", none},
        {"subscribe", none}, {"unsubscribe", none}, {"psubscribe", none}, {"punsubscribe", none},
        // numkeys, a subcommand or an operator first.
        {"zunion", argv2}, {"zinter", argv2}, {"zdiff", argv2}, {"zintercard", argv2},
        {"sintercard", argv2}, {"lmpop", argv2}, {"zmpop", argv2}, {"object", argv2},
        {"memory", argv2}, {"xinfo", argv2}, {"xgroup", argv2}, {"bitop", argv2},
        {"blmpop", argv3}, {"bzmpop", argv3},
        {"eval", script_keys}, {"evalsha", script_keys}, {"eval_ro", script_keys},
        {"evalsha_ro", script_keys}, {"fcall", script_keys}, {"fcall_ro", script_keys},
        {"xread", after_streams}, {"xreadgroup", after_streams},
        {"migrate", migrate},
    };
    return t;
}

std::string_view at(std::span<const std::string_view> argv, std::size_t i) {
    return i < argv.size() ? argv[i] : std::string_view();
}

std::string_view after_token(std::span<const std::string_view> argv, std::string_view token, std::size_t from) {
    for (std::size_t i = from; i + 1 < argv.size(); ++i)
        if (iequals(argv[i], token)) return argv[i + 1];
    return {};
}

}  // namespace

std::string_view first_key(std::span<const std::string_view> argv) {
    if (argv.size() < 2) return {};
    std::array<char, 32> buf{};
    const std::string_view name = argv[0];
    if (name.size() > buf.size()) return argv[1];
    for (std::size_t i = 0; i < name.size(); ++i) buf[i] = ascii_lower(name[i]);
    const auto& t = exceptions();
    auto it = t.find(std::string_view(buf.data(), name.size()));
    if (it == t.end()) return argv[1];
    switch (it->second) {
        case first_key_at::none: return {};
        case first_key_at::argv2: return at(argv, 2);
        case first_key_at::argv3: return at(argv, 3);
        case first_key_at::script_keys: {
            const std::string_view n = at(argv, 2);
            long long numkeys = 0;
            auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), numkeys);
            if (ec != std::errc() || end != n.data() + n.size() || numkeys <= 0) return {};
            return at(argv, 3);
        }
        case first_key_at::after_streams: return after_token(argv, "streams", 1);
        case first_key_at::migrate:
            if (!at(argv, 3).empty()) return at(argv, 3);
            return after_token(argv, "keys", 6);
    }
    return {};
}

}  // namespace herdguard::resp
