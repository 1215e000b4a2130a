// CLIENT KILL through the proxy: never a connection shared by other clients.
#include <catch2/catch.hpp>

#include "herdguard/server/client_kill.h"

using namespace herdguard;

TEST_CASE("CLIENT KILL: shared connections and wide filters are refused, the rest go to Redis", "[client_kill]") {
    shared_connection_registry shared;
    shared.add(7, "127.0.0.1:50000");
    const std::string refused = "-ERR herdguard: refusing to kill a redis connection shared by other clients\r\n";

    CHECK(refuse_client_kill({"CLIENT", "KILL", "127.0.0.1:50000"}, shared) == refused);
    CHECK_FALSE(refuse_client_kill({"CLIENT", "KILL", "127.0.0.1:50001"}, shared));
    CHECK(refuse_client_kill({"CLIENT", "KILL", "ID", "7"}, shared) == refused);
    CHECK(refuse_client_kill({"client", "kill", "id", "7", "SKIPME", "yes"}, shared) == refused);
    CHECK(refuse_client_kill({"CLIENT", "KILL", "ADDR", "127.0.0.1:50000"}, shared) == refused);
    CHECK_FALSE(refuse_client_kill({"CLIENT", "KILL", "ID", "8"}, shared));
    CHECK_FALSE(refuse_client_kill({"CLIENT", "KILL", "ID", "x"}, shared));  // Redis answers the error
    for (auto filter : {"TYPE", "user", "LADDR", "maxage"}) {
        INFO(filter);
        auto r = refuse_client_kill({"CLIENT", "KILL", filter, "normal"}, shared);
        REQUIRE(r);
        CHECK(r->rfind("-ERR herdguard: CLIENT KILL by TYPE, USER, LADDR or MAXAGE", 0) == 0);
    }
    shared.remove(7, "127.0.0.1:50000");
    CHECK_FALSE(refuse_client_kill({"CLIENT", "KILL", "ID", "7"}, shared));
    CHECK_FALSE(refuse_client_kill({"CLIENT", "KILL", "127.0.0.1:50000"}, shared));
}

TEST_CASE("CLIENT KILL: a refused kill is first checked by Redis with a probe that kills nothing", "[client_kill]") {
    auto probe = make_client_kill_probe({"CLIENT", "KILL", "TYPE", "wrongtype"});
    CHECK_FALSE(probe.dangling);
    CHECK(probe.argv == std::vector<std::string_view>{"CLIENT", "KILL", "TYPE", "wrongtype", "ID", "9223372036854775807"});
    // A filter without a value: checked without it, then Redis's syntax error.
    probe = make_client_kill_probe({"CLIENT", "KILL", "TYPE", "normal", "USER"});
    CHECK(probe.dangling);
    CHECK(probe.argv == std::vector<std::string_view>{"CLIENT", "KILL", "TYPE", "normal", "ID", "9223372036854775807"});
    // The client's own ID comes before ours: Redis checks it, and the last ID is the one it keeps.
    probe = make_client_kill_probe({"CLIENT", "KILL", "ID", "7", "TYPE", "pubsub"});
    CHECK(probe.argv.back() == "9223372036854775807");
    CHECK(probe.argv[3] == "7");
}

namespace {
struct captured final : reply_handler {
    std::string reply;
    bool failed = false;
    void on_reply(std::string_view raw) override { reply = raw; }
    void on_failure(std::string_view raw) override {
        reply = raw;
        failed = true;
    }
};
}  // namespace

TEST_CASE("CLIENT KILL: Redis's error on the probe is the answer, otherwise the refusal", "[client_kill]") {
    captured slot;
    (new client_kill_check(slot, "-ERR herdguard: refused\r\n"))->on_reply("-ERR Unknown client type 'x'\r\n");
    CHECK(slot.reply == "-ERR Unknown client type 'x'\r\n");
    (new client_kill_check(slot, "-ERR herdguard: refused\r\n"))->on_reply(":0\r\n");
    CHECK(slot.reply == "-ERR herdguard: refused\r\n");
    (new client_kill_check(slot, "-ERR syntax error\r\n"))->on_reply(":0\r\n");
    CHECK(slot.reply == "-ERR syntax error\r\n");
    (new client_kill_check(slot, "-ERR herdguard: refused\r\n"))->on_failure("-ERR herdguard: redis unavailable (x)\r\n");
    CHECK(slot.failed);
    CHECK(slot.reply == "-ERR herdguard: redis unavailable (x)\r\n");
}
