// resp::first_key: the key a backend that routes by key (a cluster's, later) sends a client's
// command to. Expected values are Redis 7's (COMMAND GETKEYS gives the same first key).
#include <catch2/catch.hpp>

#include <string_view>
#include <vector>

#include "herdguard/resp/command_keys.h"

using herdguard::resp::first_key;

namespace {
std::string_view key_of(std::vector<std::string_view> argv) { return first_key(argv); }
}  // namespace

TEST_CASE("first_key: most commands have their key at argv[1], whatever the case of the name", "[command_keys]") {
    CHECK(key_of({"GET", "k"}) == "k");
    CHECK(key_of({"set", "k", "v", "PX", "10"}) == "k");
    CHECK(key_of({"HsEt", "h", "f", "v"}) == "h");
    CHECK(key_of({"DEL", "a", "b"}) == "a");
    CHECK(key_of({"ZUNIONSTORE", "dest", "2", "a", "b"}) == "dest");
    CHECK(key_of({"SPUBLISH", "shard-channel", "m"}) == "shard-channel");  // hashed like a key
    CHECK(key_of({"SOMEFUTURECOMMAND", "k"}) == "k");
}

TEST_CASE("first_key: keyless commands have none", "[command_keys]") {
    for (std::string_view name : {"PING", "INFO", "KEYS", "SCAN", "FLUSHALL", "DBSIZE", "SCRIPT", "PUBLISH",
                                  "SUBSCRIBE", "CONFIG", "CLIENT", "MULTI", "EXEC", "WAIT", "FUNCTION", "CLUSTER"})
        CHECK(key_of({name, "x", "y"}).empty());
    CHECK(key_of({"GET"}).empty());  // too few arguments: Redis answers the arity error
    CHECK(key_of({}).empty());
}

TEST_CASE("first_key: numkeys, subcommands and operators come before the key", "[command_keys]") {
    CHECK(key_of({"ZUNION", "2", "a", "b"}) == "a");
    CHECK(key_of({"SINTERCARD", "2", "a", "b", "LIMIT", "1"}) == "a");
    CHECK(key_of({"LMPOP", "1", "l", "LEFT"}) == "l");
    CHECK(key_of({"BLMPOP", "0", "1", "l", "LEFT"}) == "l");
    CHECK(key_of({"BZMPOP", "1.5", "2", "z1", "z2", "MIN"}) == "z1");
    CHECK(key_of({"BITOP", "AND", "dest", "a", "b"}) == "dest");
    CHECK(key_of({"OBJECT", "ENCODING", "k"}) == "k");
    CHECK(key_of({"OBJECT", "HELP"}).empty());
    CHECK(key_of({"MEMORY", "USAGE", "k"}) == "k");
    CHECK(key_of({"XINFO", "STREAM", "s"}) == "s");
    CHECK(key_of({"XGROUP", "CREATE", "s", "g", "$"}) == "s");
}

TEST_CASE("first_key: scripts name their keys after numkeys, and may have none", "[command_keys]") {
    CHECK(key_of({"EVAL", "return 1", "1", "k", "arg"}) == "k");
    CHECK(key_of({"evalsha", "abc", "2", "k1", "k2"}) == "k1");
    CHECK(key_of({"FCALL_RO", "f", "1", "k"}) == "k");
    CHECK(key_of({"EVAL", "return 1", "0", "notakey"}).empty());
    CHECK(key_of({"EVAL", "return 1", "x", "k"}).empty());  // Redis refuses a bad numkeys
    CHECK(key_of({"EVAL", "return 1", "1"}).empty());
}

TEST_CASE("first_key: streams after STREAMS, MIGRATE's key or its KEYS list", "[command_keys]") {
    CHECK(key_of({"XREAD", "COUNT", "2", "STREAMS", "s1", "s2", "0", "0"}) == "s1");
    CHECK(key_of({"XREADGROUP", "GROUP", "g", "c", "BLOCK", "0", "streams", "s", ">"}) == "s");
    CHECK(key_of({"XREAD", "COUNT", "2"}).empty());
    CHECK(key_of({"MIGRATE", "h", "6379", "k", "0", "100"}) == "k");
    CHECK(key_of({"MIGRATE", "h", "6379", "", "0", "100", "COPY", "KEYS", "a", "b"}) == "a");
}
