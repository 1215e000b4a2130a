#include "herdguard/server/client_auth.h"

#include "herdguard/resp/reply.h"
#include "herdguard/resp/request_parser.h"
#include "herdguard/util/constant_time.h"
#include "herdguard/util/strings.h"

namespace herdguard {

std::string check_credentials(const auth_config& auth, std::string_view user, std::string_view password,
                              client_state& state) {
    bool ok = false;
    if (user == "default") ok = !auth.password.empty() && constant_time_equals(password, auth.password);
    for (const auto& u : auth.users) {
        // Every user's password is compared, matching name or not, so the time does not tell
        // which names exist.
        bool match = constant_time_equals(password, u.password);
        if (u.name == user) ok = ok || match;
    }
    if (!ok) return "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    state.authenticated = true;
    return "+OK\r\n";
}

namespace {

bool same_as_shared(const redis_config& redis, std::string_view user, std::string_view password) {
    const std::string_view shared_user = redis.username.empty() ? std::string_view("default") : redis.username;
    return !redis.password.empty() && user == shared_user && constant_time_equals(password, redis.password);
}

}  // namespace

auth_verdict redis_credentials_gate(std::vector<std::string_view>& argv, command_kind kind, const redis_config& redis) {
    if (redis.password.empty()) return {};
    if (kind == command_kind::needs_private && iequals(argv[0], "auth")) {
        const bool match = argv.size() == 2   ? same_as_shared(redis, "default", argv[1])
                           : argv.size() == 3 ? same_as_shared(redis, argv[1], argv[2])
                                              : false;
        if (match) return {std::string("+OK\r\n")};
        return {};
    }
    if (kind != command_kind::hello) return {};
    for (std::size_t i = 2; i + 2 < argv.size(); ++i) {
        if (!iequals(argv[i], "auth")) continue;
        if (!same_as_shared(redis, argv[i + 1], argv[i + 2])) return {};
        argv.erase(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.begin() + static_cast<std::ptrdiff_t>(i + 3));
        return {std::nullopt, true};
    }
    return {};
}

namespace {

// HELLO [protover [AUTH user pass] [SETNAME name]]: a version other than 2 or 3 is answered
// (NOPROTO) before credentials are looked at, as Redis does.
auth_verdict hello_gate(std::vector<std::string_view>& argv, const auth_config& auth, client_state& state) {
    std::int64_t ver = 0;
    if (argv.size() >= 2 && (!resp::parse_int64(argv[1], ver) || ver < 2 || ver > 3)) return {};
    for (std::size_t i = 2; i < argv.size(); ++i) {
        if (!iequals(argv[i], "auth")) continue;
        if (i + 2 >= argv.size()) return {resp::error_reply("ERR Syntax error in HELLO option 'auth'")};
        std::string verdict = check_credentials(auth, argv[i + 1], argv[i + 2], state);
        if (verdict[0] == '-') return {std::move(verdict)};
        // Authenticated here; Redis sees the HELLO without our credentials.
        argv.erase(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.begin() + static_cast<std::ptrdiff_t>(i + 3));
        return {std::nullopt, true};
    }
    if (state.authenticated) return {};
    return {resp::error_reply(
        "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> "
        "AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol "
        "version at the same time")};
}

}  // namespace

auth_verdict auth_gate(std::vector<std::string_view>& argv, command_kind kind, const auth_config& auth,
                       client_state& state) {
    if (!auth.enabled()) return {};
    // AUTH shares its kind (a private connection, without auth configured) with MULTI and the
    // blocking commands, so its name is the one thing looked at again here.
    if (kind == command_kind::needs_private && iequals(argv[0], "auth")) {
        if (argv.size() == 2) return {check_credentials(auth, "default", argv[1], state)};
        if (argv.size() == 3) return {check_credentials(auth, argv[1], argv[2], state)};
        return {resp::error_reply("ERR syntax error")};
    }
    if (kind == command_kind::hello) return hello_gate(argv, auth, state);
    // QUIT and RESET are allowed before AUTH, as in Redis (their no-auth flag).
    if (state.authenticated || kind == command_kind::quit || kind == command_kind::reset) return {};
    return {"-NOAUTH Authentication required.\r\n"};
}

}  // namespace herdguard
