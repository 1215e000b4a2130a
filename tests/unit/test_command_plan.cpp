// The command planner per command family: where each command runs and what it changes, from
// argv and the client's state alone (no sockets, no session).
#include <catch2/catch.hpp>

#include "herdguard/server/command_plan.h"

using namespace herdguard;

namespace {

command_plan plan(std::vector<std::string_view> argv, const client_state& st = {}, planning_context ctx = {}) {
    return plan_command(argv, st, ctx);
}

planning_context with_routes() {
    planning_context ctx;
    ctx.routes_configured = true;
    return ctx;
}

}  // namespace

TEST_CASE("plan: plain commands go to Redis, with no state change", "[plan]") {
    for (auto argv : {std::vector<std::string_view>{"SET", "k", "v"}, {"get", "k"}, {"EVAL", "return 1", "0"}}) {
        auto p = plan(argv);
        INFO(argv[0]);
        CHECK(p.kind == command_kind::forward);
        CHECK_FALSE(p.local);
        CHECK_FALSE(p.open_private);
        CHECK_FALSE(p.no_timeout);
        CHECK_FALSE(p.barrier);
        CHECK(p.reads == read_through::none);  // no routes configured
        CHECK(p.transaction == transaction_effect::none);
    }
}

TEST_CASE("plan: GET and MGET are read-through candidates only where routes apply", "[plan]") {
    CHECK(plan({"GET", "k"}, {}, with_routes()).reads == read_through::get);
    CHECK(plan({"get", "k"}, {}, with_routes()).reads == read_through::get);
    CHECK(plan({"MGET", "a", "b"}, {}, with_routes()).reads == read_through::mget);
    CHECK(plan({"mget", "a"}, {}, with_routes()).reads == read_through::mget);
    // Wrong arity: Redis answers the error.
    CHECK(plan({"GET"}, {}, with_routes()).reads == read_through::none);
    CHECK(plan({"GET", "a", "b"}, {}, with_routes()).reads == read_through::none);
    CHECK(plan({"MGET"}, {}, with_routes()).reads == read_through::none);
    CHECK(plan({"GETEX", "k"}, {}, with_routes()).reads == read_through::none);

    client_state in_multi;
    in_multi.in_multi = true;
    CHECK(plan({"GET", "k"}, in_multi, with_routes()).reads == read_through::none);
    client_state other_db;
    other_db.db_default = false;
    CHECK(plan({"GET", "k"}, other_db, with_routes()).reads == read_through::none);
    client_state relaying;
    relaying.relay = true;
    CHECK(plan({"MGET", "k"}, relaying, with_routes()).reads == read_through::none);
}

TEST_CASE("plan: MULTI begins a transaction on a private connection; EXEC and DISCARD end it", "[plan]") {
    auto multi = plan({"multi"});
    CHECK(multi.open_private);
    CHECK(multi.transaction == transaction_effect::begins);
    CHECK(plan({"EXEC"}).transaction == transaction_effect::ends);
    CHECK(plan({"discard"}).transaction == transaction_effect::ends);
    CHECK(plan({"WATCH", "k"}).open_private);
    CHECK(plan({"WATCH", "k"}).transaction == transaction_effect::none);
}

TEST_CASE("plan: blocking commands and push streams open a private connection without a timeout", "[plan]") {
    auto blpop = plan({"BLPOP", "q", "0"});
    CHECK(blpop.open_private);
    CHECK(blpop.no_timeout);
    auto xread = plan({"XREAD", "BLOCK", "0", "STREAMS", "s", "$"});
    CHECK(xread.open_private);
    CHECK(xread.no_timeout);
    auto auth = plan({"AUTH", "pw"});
    CHECK(auth.open_private);
    CHECK_FALSE(auth.no_timeout);
    for (auto name : {"SUBSCRIBE", "psubscribe", "MONITOR"}) {
        auto p = plan({name, "c"});
        INFO(name);
        CHECK(p.kind == command_kind::relay);
        CHECK(p.open_private);
        CHECK(p.no_timeout);
    }
}

TEST_CASE("plan: PING, ECHO and CLIENT SETNAME are local until the client has a private connection", "[plan]") {
    planning_context priv;
    priv.has_private = true;
    for (auto argv : {std::vector<std::string_view>{"PING"}, {"ECHO", "x"}, {"CLIENT", "SETNAME", "n"},
                      {"client", "getname"}, {"CLIENT", "SETINFO", "LIB-NAME", "x"}}) {
        INFO(argv[0] << " " << (argv.size() > 1 ? argv[1] : ""));
        CHECK(plan(argv).local);
        CHECK_FALSE(plan(argv, {}, priv).local);  // may be queued by MULTI: Redis answers
    }
    // CLIENT REPLY is always the session's own.
    CHECK(plan({"CLIENT", "REPLY", "OFF"}, {}, priv).local);
    CHECK(plan({"CLIENT", "REPLY", "OFF"}).client == client_subcommand::local_reply);
}

TEST_CASE("plan: CLIENT subcommands by what they touch", "[plan]") {
    CHECK_FALSE(plan({"CLIENT", "PAUSE", "10"}).local);
    CHECK_FALSE(plan({"CLIENT", "PAUSE", "10"}).open_private);
    auto kill = plan({"CLIENT", "KILL", "ID", "7"});
    CHECK(kill.client == client_subcommand::kill);
    CHECK(kill.open_private);
    CHECK(plan({"CLIENT", "ID"}).open_private);
    CHECK(plan({"CLIENT", "TRACKING", "on"}).open_private);
    CHECK(plan({"CLIENT"}).client == client_subcommand::shared);  // Redis answers the arity error
}

TEST_CASE("plan: HELLO 2 and 3 go to Redis on a connection of that protocol, bad versions and options "
          "are answered, only AUTH for Redis needs a private connection",
          "[plan]") {
    CHECK_FALSE(plan({"HELLO"}).local);
    CHECK(plan({"HELLO"}).hello_protocol == 0);  // Redis answers with the client's current protocol
    for (std::string_view ver : {"2", "3"}) {
        INFO(ver);
        const auto p = plan({"HELLO", ver});
        CHECK_FALSE(p.local);
        CHECK_FALSE(p.open_private);
        CHECK(p.hello_protocol == (ver == "2" ? 2 : 3));
        // SETNAME is kept by the session: no private connection for a name.
        CHECK_FALSE(plan({"HELLO", ver, "SETNAME", "n"}).open_private);
        CHECK(plan({"HELLO", ver, "SETNAME", "n"}).hello_protocol != 0);
        // AUTH that reaches Redis authenticates a connection: the client's own.
        CHECK(plan({"hello", ver, "auth", "u", "p", "setname", "n"}).open_private);
    }
    for (std::vector<std::string_view> bad : {std::vector<std::string_view>{"HELLO", "4"}, {"HELLO", "1"},
                                              {"HELLO", "x"}, {"HELLO", "3", "SETNAME"}, {"HELLO", "3", "AUTH", "u"},
                                              {"HELLO", "3", "FOO"}}) {
        const auto p = plan(bad);
        CHECK(p.local);
        CHECK(p.hello_protocol == 0);
        CHECK_FALSE(p.open_private);
    }
}

TEST_CASE("plan: the settings clients send at connect cost no private connection", "[plan]") {
    for (std::vector<std::string_view> argv :
         {std::vector<std::string_view>{"CLIENT", "SETNAME", "n"}, {"CLIENT", "SETINFO", "LIB-NAME", "x"},
          {"CLIENT", "NO-EVICT", "ON"}, {"CLIENT", "NO-TOUCH", "OFF"},
          {"CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "internal-ip"}, {"READONLY"},
          {"READWRITE"}, {"SELECT", "0"}, {"HELLO", "3", "SETNAME", "n"}}) {
        INFO(argv[0] << " " << argv[1 % argv.size()]);
        CHECK_FALSE(plan(argv).open_private);
    }
    CHECK(plan({"READONLY"}).local);
    CHECK(plan({"CLIENT", "MAINT_NOTIFICATIONS", "ON"}).local);
}

TEST_CASE("plan: SELECT of the configured db is local, another db opens a private connection", "[plan]") {
    planning_context ctx;
    ctx.configured_db = 3;
    CHECK(plan({"SELECT", "3"}, {}, ctx).local);
    CHECK(plan({"SELECT", "4"}, {}, ctx).open_private);
    CHECK_FALSE(plan({"SELECT", "x"}, {}, ctx).local);  // Redis answers the error
    CHECK_FALSE(plan({"SELECT", "x"}, {}, ctx).open_private);
    ctx.has_private = true;
    CHECK_FALSE(plan({"SELECT", "3"}, {}, ctx).local);  // the private connection's own db
}

TEST_CASE("plan: INFO herdguard is local; INFO's default sets get the section appended", "[plan]") {
    CHECK(plan({"INFO", "herdguard"}).local);
    CHECK(plan({"INFO"}).info_section);
    CHECK(plan({"info", "ALL"}).info_section);
    CHECK(plan({"INFO", "everything"}).info_section);
    CHECK(plan({"INFO", "memory", "herdguard"}).info_section);
    CHECK_FALSE(plan({"INFO", "memory"}).info_section);
    CHECK_FALSE(plan({"INFO", "memory"}).local);
}

TEST_CASE("plan: QUIT, HERDGUARD and RESET are local; RESET waits for every reply first", "[plan]") {
    CHECK(plan({"QUIT"}).local);
    CHECK(plan({"HERDGUARD", "STATS"}).local);
    auto reset = plan({"RESET"});
    CHECK(reset.local);
    CHECK(reset.barrier);
    CHECK_FALSE(plan({"QUIT"}).barrier);
}

TEST_CASE("client_state: reset returns to a fresh connection's state", "[plan]") {
    client_state st;
    st.name = "n";
    st.lib_name = "lib";
    st.lib_ver = "1";
    st.replies = reply_mode::off;
    st.in_multi = true;
    st.db_default = false;
    st.relay = true;
    st.reset(/*auth_required=*/true);
    CHECK_FALSE(st.name);
    CHECK_FALSE(st.lib_name);
    CHECK_FALSE(st.lib_ver);
    CHECK(st.replies == reply_mode::on);
    CHECK_FALSE(st.in_multi);
    CHECK(st.db_default);
    CHECK_FALSE(st.relay);
    CHECK_FALSE(st.authenticated);
    st.reset(false);
    CHECK(st.authenticated);
}

TEST_CASE("plan: UNSUBSCRIBE outside a subscription is answered; a tracking client's reads are not routed",
          "[plan]") {
    CHECK(plan({"UNSUBSCRIBE", "a"}).local);
    CHECK(plan({"SUNSUBSCRIBE"}).local);
    client_state in_multi;
    in_multi.in_multi = true;
    CHECK_FALSE(plan({"UNSUBSCRIBE"}, in_multi).local);  // queued by Redis
    client_state tracking;
    tracking.tracking = true;
    CHECK(plan({"GET", "k"}, {}, with_routes()).reads == read_through::get);
    CHECK(plan({"GET", "k"}, tracking, with_routes()).reads == read_through::none);
    planning_context has_private;
    has_private.has_private = true;
    CHECK_FALSE(plan({"READONLY"}, {}, has_private).local);
    CHECK_FALSE(plan({"CLIENT", "NO-EVICT", "ON"}, {}, has_private).local);
}
