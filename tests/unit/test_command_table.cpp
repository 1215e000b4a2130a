#include <catch2/catch.hpp>

#include "herdguard/server/command_table.h"

using namespace herdguard;

TEST_CASE("plain commands are forwarded on shared connections", "[routing]") {
    REQUIRE(classify({"GET", "k"}) == command_kind::forward);
    REQUIRE(classify({"set", "k", "v"}) == command_kind::forward);
    REQUIRE(classify({"EVAL", "return 1", "0"}) == command_kind::forward);
    REQUIRE(classify({"XREAD", "COUNT", "1", "STREAMS", "s", "0"}) == command_kind::forward);
    REQUIRE(classify({"nosuchcommand"}) == command_kind::forward);
    REQUIRE(classify({std::string_view("averyveryverylongcommandnamethatexceedsthebuffer")}) ==
            command_kind::forward);
}

TEST_CASE("stateful and blocking commands need a private connection", "[routing]") {
    for (auto name : {"MULTI", "watch", "BLPOP", "brpop", "BLMOVE", "BZPOPMIN", "WAIT", "AUTH", "BLMPOP"}) {
        INFO(name);
        REQUIRE(classify({name, "x"}) == command_kind::needs_private);
    }
    REQUIRE(classify({"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}) == command_kind::needs_private);
    REQUIRE(classify({"xreadgroup", "GROUP", "g", "c", "block", "10", "STREAMS", "s", ">"}) ==
            command_kind::needs_private);
    // A key named "block" after STREAMS is not the option.
    REQUIRE(classify({"XREAD", "STREAMS", "block", "0"}) == command_kind::forward);
}

TEST_CASE("push streams and local commands", "[routing]") {
    REQUIRE(classify({"SUBSCRIBE", "c"}) == command_kind::relay);
    REQUIRE(classify({"psubscribe", "c*"}) == command_kind::relay);
    REQUIRE(classify({"SSUBSCRIBE", "c"}) == command_kind::relay);
    REQUIRE(classify({"MONITOR"}) == command_kind::relay);
    REQUIRE(classify({"PING"}) == command_kind::ping);
    REQUIRE(classify({"Quit"}) == command_kind::quit);
    REQUIRE(classify({"HELLO", "3"}) == command_kind::hello);
    REQUIRE(classify({"SELECT", "1"}) == command_kind::select);
    REQUIRE(classify({"RESET"}) == command_kind::reset);
}

TEST_CASE("CLIENT subcommands are split by the state they touch", "[routing]") {
    REQUIRE(classify_client({"CLIENT", "SETNAME", "x"}) == client_subcommand::local_name);
    REQUIRE(classify_client({"client", "getname"}) == client_subcommand::local_name);
    REQUIRE(classify_client({"CLIENT", "SETINFO", "LIB-NAME", "x"}) == client_subcommand::local_name);
    REQUIRE(classify_client({"CLIENT", "REPLY", "OFF"}) == client_subcommand::local_reply);
    REQUIRE(classify_client({"CLIENT", "KILL", "ID", "5"}) == client_subcommand::kill);
    REQUIRE(classify_client({"CLIENT", "PAUSE", "10"}) == client_subcommand::shared);
    REQUIRE(classify_client({"CLIENT", "LIST"}) == client_subcommand::list);
    REQUIRE(classify_client({"client", "info"}) == client_subcommand::list);
    REQUIRE(classify_client({"CLIENT", "ID"}) == client_subcommand::id);
    for (auto sub : {"TRACKING", "UNBLOCK", "CACHING", "GETREDIR"}) {
        INFO(sub);
        REQUIRE(classify_client({"CLIENT", sub}) == client_subcommand::needs_private);
    }
    for (auto sub : {"NO-EVICT", "no-touch", "MAINT_NOTIFICATIONS"}) {
        INFO(sub);
        REQUIRE(classify_client({"CLIENT", sub, "ON"}) == client_subcommand::unsupported);
    }
    REQUIRE(classify({"READONLY"}) == command_kind::cluster_only);
    REQUIRE(classify({"readwrite"}) == command_kind::cluster_only);
}

TEST_CASE("written keys are found for stale-set protection", "[routing]") {
    auto keys = [](std::vector<std::string_view> argv) {
        std::vector<std::string> out;
        for_each_written_key(argv, [&](std::string_view k) { out.emplace_back(k); });
        return out;
    };
    using v = std::vector<std::string>;
    REQUIRE(keys({"SET", "a", "1", "EX", "5"}) == v{"a"});
    REQUIRE(keys({"del", "a", "b", "c"}) == v{"a", "b", "c"});
    REQUIRE(keys({"UNLINK", "a"}) == v{"a"});
    REQUIRE(keys({"MSET", "a", "1", "b", "2"}) == v{"a", "b"});
    REQUIRE(keys({"RENAME", "a", "b"}) == v{"a", "b"});
    REQUIRE(keys({"GETDEL", "a"}) == v{"a"});
    REQUIRE(keys({"EXPIRE", "a", "10"}) == v{"a"});
    REQUIRE(keys({"GET", "a"}).empty());
    REQUIRE(keys({"MGET", "a", "b"}).empty());
    REQUIRE(keys({"DEL"}).empty());
}

TEST_CASE("blocking commands are told apart from other private ones", "[routing]") {
    for (auto name : {"BLPOP", "brpop", "BRPOPLPUSH", "BLMOVE", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT",
                      "WAITAOF"}) {
        INFO(name);
        REQUIRE(is_blocking({name, "x"}));
    }
    for (auto name : {"MULTI", "WATCH", "AUTH", "READONLY", "READWRITE", "ASKING", "GET", "SUBSCRIBE"}) {
        INFO(name);
        REQUIRE_FALSE(is_blocking({name, "x"}));
    }
    REQUIRE(is_blocking({"XREAD", "BLOCK", "0", "STREAMS", "s", "$"}));
    REQUIRE_FALSE(is_blocking({"XREAD", "STREAMS", "block", "0"}));
}
