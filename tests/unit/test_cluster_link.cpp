// What each command does to a client's cluster link (upstream/cluster_link.h): which ones enter
// a mode that needs the client's own connection to one node, and which leave it.
#include <catch2/catch.hpp>

#include "herdguard/upstream/cluster_link.h"

using namespace herdguard;
using effect = cluster_link::effect;

namespace {

effect of(std::initializer_list<std::string_view> argv, bool no_timeout = false, bool relayed = false) {
    const std::vector<std::string_view> v(argv);
    return cluster_link::effect_of(v, no_timeout, relayed);
}

}  // namespace

TEST_CASE("cluster link: transactions, WATCH and blocking commands", "[cluster]") {
    CHECK(of({"MULTI"}) == effect::begin_multi);
    CHECK(of({"exec"}) == effect::end_multi);
    CHECK(of({"Discard"}) == effect::end_multi);
    CHECK(of({"WATCH", "a", "b"}) == effect::watch);
    CHECK(of({"UNWATCH"}) == effect::unwatch);
    // Blocking: the session marks them no_timeout (command_plan); their key names the node.
    CHECK(of({"BLPOP", "q", "0"}, true) == effect::blocking);
    CHECK(of({"GET", "a"}) == effect::plain);
}

TEST_CASE("cluster link: push streams and connection state stay on one node", "[cluster]") {
    CHECK(of({"SUBSCRIBE", "news"}) == effect::subscribe);
    CHECK(of({"PSUBSCRIBE", "n*"}) == effect::subscribe);
    CHECK(of({"SSUBSCRIBE", "shard"}) == effect::subscribe);
    CHECK(of({"MONITOR"}) == effect::subscribe);
    // Anything a subscribed client sends is relayed on the same connection.
    CHECK(of({"PING"}, true, true) == effect::subscribe);
    CHECK(of({"AUTH", "user", "pw"}) == effect::sticky);
    CHECK(of({"CLIENT", "ID"}) == effect::sticky);
    CHECK(of({"HELLO", "3"}) == effect::sticky);
    // A name is replayed on every connection the link takes, not a reason to keep one.
    CHECK(of({"CLIENT", "SETNAME", "app"}) == effect::name);
    CHECK(of({"client", "setinfo", "LIB-NAME", "x"}) == effect::name);
}
