// The replies herdguard writes itself, and client authentication: pure functions of argv and
// the client's state.
#include <catch2/catch.hpp>

#include "herdguard/server/client_auth.h"
#include "herdguard/server/local_commands.h"

using namespace herdguard;

TEST_CASE("local: PING and ECHO", "[local]") {
    CHECK(answer_ping_echo({"PING"}, command_kind::ping) == "+PONG\r\n");
    CHECK(answer_ping_echo({"ping", "hi"}, command_kind::ping) == "$2\r\nhi\r\n");
    CHECK(answer_ping_echo({"ECHO", ""}, command_kind::echo) == "$0\r\n\r\n");
    CHECK(answer_ping_echo({"ECHO"}, command_kind::echo) ==
          "-ERR wrong number of arguments for 'echo' command\r\n");
    CHECK(answer_ping_echo({"PING", "a", "b"}, command_kind::ping) ==
          "-ERR wrong number of arguments for 'ping' command\r\n");
}

TEST_CASE("local: HELLO of a version or with an option Redis refuses, with Redis's errors", "[local]") {
    CHECK(answer_hello({"HELLO", "4"}) == "-NOPROTO unsupported protocol version\r\n");
    CHECK(answer_hello({"HELLO", "1"}) == "-NOPROTO unsupported protocol version\r\n");
    CHECK(answer_hello({"HELLO", "x"}) == "-ERR Protocol version is not an integer or out of range\r\n");
    CHECK(answer_hello({"HELLO", "3", "FOO"}) == "-ERR Syntax error in HELLO option 'FOO'\r\n");
    CHECK(answer_hello({"HELLO", "3", "SETNAME"}) == "-ERR Syntax error in HELLO option 'SETNAME'\r\n");
    CHECK(answer_hello({"HELLO", "2", "AUTH", "u"}) == "-ERR Syntax error in HELLO option 'AUTH'\r\n");
}

TEST_CASE("local: per-connection settings a shared connection cannot honour, as a Redis without them",
          "[local]") {
    client_state st;
    CHECK(answer_client({"CLIENT", "NO-EVICT", "OFF"}, client_subcommand::unsupported, st) == "+OK\r\n");
    CHECK(answer_client({"CLIENT", "no-touch", "off"}, client_subcommand::unsupported, st) == "+OK\r\n");
    CHECK(answer_client({"CLIENT", "NO-EVICT", "ON"}, client_subcommand::unsupported, st) ==
          "-ERR unknown subcommand 'NO-EVICT'. Try CLIENT HELP.\r\n");
    CHECK(answer_client({"CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "internal-ip"},
                        client_subcommand::unsupported, st) ==
          "-ERR unknown subcommand 'MAINT_NOTIFICATIONS'. Try CLIENT HELP.\r\n");
}

TEST_CASE("local: a RESP3 client's CLIENT GETNAME without a name is RESP3's null", "[local]") {
    client_state st;
    st.protocol = 3;
    CHECK(answer_client({"CLIENT", "GETNAME"}, client_subcommand::local_name, st) == "_\r\n");
}

TEST_CASE("local: CLIENT SETNAME, GETNAME and SETINFO keep the client's identity", "[local]") {
    client_state st;
    CHECK(answer_client({"CLIENT", "GETNAME"}, client_subcommand::local_name, st) == "$-1\r\n");
    CHECK(answer_client({"CLIENT", "SETNAME", "app-1"}, client_subcommand::local_name, st) == "+OK\r\n");
    CHECK(st.name == "app-1");
    CHECK(answer_client({"client", "getname"}, client_subcommand::local_name, st) == "$5\r\napp-1\r\n");
    CHECK(answer_client({"CLIENT", "SETNAME", "a b"}, client_subcommand::local_name, st) ==
          "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    CHECK(st.name == "app-1");
    CHECK(answer_client({"CLIENT", "SETNAME"}, client_subcommand::local_name, st) ==
          "-ERR wrong number of arguments for 'client|setname' command\r\n");
    CHECK(answer_client({"CLIENT", "SETINFO", "LIB-NAME", "redis-py"}, client_subcommand::local_name, st) ==
          "+OK\r\n");
    CHECK(answer_client({"CLIENT", "SETINFO", "lib-ver", "4.3"}, client_subcommand::local_name, st) == "+OK\r\n");
    CHECK(st.lib_name == "redis-py");
    CHECK(st.lib_ver == "4.3");
    CHECK(answer_client({"CLIENT", "SETINFO", "color", "x"}, client_subcommand::local_name, st) ==
          "-ERR Unrecognized option 'color'\r\n");
    // An empty name reads back as nil, as in Redis.
    CHECK(answer_client({"CLIENT", "SETNAME", ""}, client_subcommand::local_name, st) == "+OK\r\n");
    CHECK(answer_client({"CLIENT", "GETNAME"}, client_subcommand::local_name, st) == "$-1\r\n");
}

TEST_CASE("local: CLIENT REPLY OFF and SKIP are not answered; ON is", "[local]") {
    client_state st;
    CHECK_FALSE(answer_client({"CLIENT", "REPLY", "SKIP"}, client_subcommand::local_reply, st));
    CHECK(st.replies == reply_mode::skip);
    CHECK(st.take_suppress());        // the next reply is dropped
    CHECK_FALSE(st.take_suppress());  // and only that one
    CHECK_FALSE(answer_client({"CLIENT", "REPLY", "OFF"}, client_subcommand::local_reply, st));
    CHECK(st.take_suppress());
    CHECK(st.take_suppress());
    // SKIP while OFF stays OFF.
    CHECK_FALSE(answer_client({"CLIENT", "REPLY", "SKIP"}, client_subcommand::local_reply, st));
    CHECK(st.replies == reply_mode::off);
    CHECK(answer_client({"CLIENT", "REPLY", "ON"}, client_subcommand::local_reply, st) == "+OK\r\n");
    CHECK_FALSE(st.take_suppress());
    CHECK(answer_client({"CLIENT", "REPLY", "maybe"}, client_subcommand::local_reply, st) == "-ERR syntax error\r\n");
    CHECK(answer_client({"CLIENT", "REPLY"}, client_subcommand::local_reply, st) ==
          "-ERR wrong number of arguments for 'client|reply' command\r\n");
}

TEST_CASE("local: what a forwarded CLIENT SETNAME or SELECT changes in the client's state", "[local]") {
    client_state st;
    note_forwarded_client({"CLIENT", "SETNAME", "n"}, client_subcommand::local_name, st);
    CHECK(st.name == "n");
    note_forwarded_client({"CLIENT", "GETNAME"}, client_subcommand::local_name, st);
    CHECK(st.name == "n");
    note_select({"SELECT", "2"}, 0, st);
    CHECK_FALSE(st.db_default);
    note_select({"SELECT", "x"}, 0, st);  // refused by Redis: unchanged
    CHECK_FALSE(st.db_default);
    note_select({"SELECT", "0"}, 0, st);
    CHECK(st.db_default);
}

TEST_CASE("auth: nothing is gated without auth configured", "[auth]") {
    auth_config none;
    client_state st;
    std::vector<std::string_view> argv{"GET", "k"};
    auto v = auth_gate(argv, command_kind::forward, none, st);
    CHECK_FALSE(v.reply);
    CHECK_FALSE(v.argv_rewritten);
}

TEST_CASE("auth: until AUTH, only AUTH, HELLO ... AUTH, QUIT and RESET pass", "[auth]") {
    auth_config auth;
    auth.password = "secret";
    auth.users.push_back({"alice", "wonder"});
    client_state st;
    st.reset(auth.enabled());
    REQUIRE_FALSE(st.authenticated);

    std::vector<std::string_view> get{"GET", "k"};
    CHECK(auth_gate(get, command_kind::forward, auth, st).reply == "-NOAUTH Authentication required.\r\n");
    std::vector<std::string_view> quit{"QUIT"};
    CHECK_FALSE(auth_gate(quit, command_kind::quit, auth, st).reply);
    std::vector<std::string_view> reset{"RESET"};
    CHECK_FALSE(auth_gate(reset, command_kind::reset, auth, st).reply);
    std::vector<std::string_view> hello{"HELLO", "2"};
    CHECK(auth_gate(hello, command_kind::hello, auth, st).reply->rfind("-NOAUTH HELLO must be called", 0) == 0);
    // HELLO 4 is answered NOPROTO by the planner before credentials matter; HELLO 3 needs them.
    std::vector<std::string_view> hello4{"HELLO", "4"};
    CHECK_FALSE(auth_gate(hello4, command_kind::hello, auth, st).reply);
    std::vector<std::string_view> hello3{"HELLO", "3"};
    CHECK(auth_gate(hello3, command_kind::hello, auth, st).reply->rfind("-NOAUTH HELLO must be called", 0) == 0);

    std::vector<std::string_view> wrong{"AUTH", "nope"};
    CHECK(auth_gate(wrong, command_kind::needs_private, auth, st).reply ==
          "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    CHECK_FALSE(st.authenticated);
    std::vector<std::string_view> syntax{"AUTH", "a", "b", "c"};
    CHECK(auth_gate(syntax, command_kind::needs_private, auth, st).reply == "-ERR syntax error\r\n");
    std::vector<std::string_view> right{"auth", "alice", "wonder"};
    CHECK(auth_gate(right, command_kind::needs_private, auth, st).reply == "+OK\r\n");
    CHECK(st.authenticated);
    CHECK_FALSE(auth_gate(get, command_kind::forward, auth, st).reply);
    // A failed AUTH later leaves the earlier authentication in place (Redis 6+).
    CHECK(auth_gate(wrong, command_kind::needs_private, auth, st).reply->rfind("-WRONGPASS", 0) == 0);
    CHECK(st.authenticated);
}

TEST_CASE("auth: HELLO 2 AUTH authenticates and strips the credentials", "[auth]") {
    auth_config auth;
    auth.password = "secret";
    client_state st;
    st.reset(auth.enabled());
    std::vector<std::string_view> bad{"HELLO", "2", "AUTH", "default", "x"};
    CHECK(auth_gate(bad, command_kind::hello, auth, st).reply->rfind("-WRONGPASS", 0) == 0);
    std::vector<std::string_view> cut{"HELLO", "2", "AUTH", "default"};
    CHECK(auth_gate(cut, command_kind::hello, auth, st).reply == "-ERR Syntax error in HELLO option 'auth'\r\n");
    std::vector<std::string_view> good{"HELLO", "2", "AUTH", "default", "secret", "SETNAME", "n"};
    auto v = auth_gate(good, command_kind::hello, auth, st);
    CHECK_FALSE(v.reply);
    CHECK(v.argv_rewritten);
    CHECK(st.authenticated);
    CHECK(good == std::vector<std::string_view>{"HELLO", "2", "SETNAME", "n"});
}

TEST_CASE("local: UNSUBSCRIBE without subscriptions, one reply per channel, per protocol", "[local]") {
    CHECK(answer_unsubscribe({"UNSUBSCRIBE", "a", "bb"}, 2) ==
          "*3\r\n$11\r\nunsubscribe\r\n$1\r\na\r\n:0\r\n*3\r\n$11\r\nunsubscribe\r\n$2\r\nbb\r\n:0\r\n");
    CHECK(answer_unsubscribe({"unsubscribe"}, 2) == "*3\r\n$11\r\nunsubscribe\r\n$-1\r\n:0\r\n");
    CHECK(answer_unsubscribe({"PUNSUBSCRIBE"}, 3) == ">3\r\n$12\r\npunsubscribe\r\n_\r\n:0\r\n");
}

TEST_CASE("auth: the shared connections' own credentials are answered here, others go to Redis", "[auth]") {
    redis_config redis;
    redis.password = "pw";
    std::vector<std::string_view> ok{"AUTH", "pw"};
    CHECK(redis_credentials_gate(ok, command_kind::needs_private, redis).reply == "+OK\r\n");
    std::vector<std::string_view> user_ok{"auth", "default", "pw"};
    CHECK(redis_credentials_gate(user_ok, command_kind::needs_private, redis).reply == "+OK\r\n");
    std::vector<std::string_view> wrong{"AUTH", "nope"};
    CHECK_FALSE(redis_credentials_gate(wrong, command_kind::needs_private, redis).reply);
    std::vector<std::string_view> other_user{"AUTH", "app", "pw"};
    CHECK_FALSE(redis_credentials_gate(other_user, command_kind::needs_private, redis).reply);
    std::vector<std::string_view> hello{"HELLO", "3", "AUTH", "default", "pw", "SETNAME", "n"};
    auto v = redis_credentials_gate(hello, command_kind::hello, redis);
    CHECK_FALSE(v.reply);
    CHECK(v.argv_rewritten);
    CHECK(hello == std::vector<std::string_view>{"HELLO", "3", "SETNAME", "n"});
    redis.username = "app";
    CHECK(redis_credentials_gate(other_user, command_kind::needs_private, redis).reply == "+OK\r\n");
    CHECK_FALSE(redis_credentials_gate(user_ok, command_kind::needs_private, redis).reply);
    redis_config no_password;  // Redis answers AUTH's error itself
    CHECK_FALSE(redis_credentials_gate(ok, command_kind::needs_private, no_password).reply);
}
