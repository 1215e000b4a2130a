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
