// L1's read-your-writes plan (server/l1_writes.h): what each command drops from L1 when its reply
// arrives. End to end it cannot be told apart from Redis's own invalidation push, which on
// loopback arrives first (tests/integration/test_l1_coherence.cpp), so the plan is tested here.
#include <catch2/catch.hpp>

#include "herdguard/server/l1_writes.h"

using namespace herdguard;

namespace {

using keys = std::vector<std::string>;
const auto routed = [](std::string_view k) { return k.rfind("hot:", 0) == 0; };

l1_write_planner::effect run(l1_write_planner& p, std::vector<std::string_view> argv,
                             transaction_effect t = transaction_effect::none, bool in_multi = false) {
    return p.on_command(argv, t, in_multi, routed);
}

}  // namespace

TEST_CASE("L1 writes: a write drops its keys of routes with L1; reads and other keys drop nothing", "[l1]") {
    l1_write_planner p;
    CHECK(run(p, {"SET", "hot:a", "v"}).keys == keys{"hot:a"});
    CHECK(run(p, {"SET", "cold:a", "v"}).empty());
    CHECK(run(p, {"GET", "hot:a"}).empty());
    CHECK(run(p, {"DEL", "hot:a", "cold:b", "hot:c"}).keys == keys{"hot:a", "hot:c"});
    CHECK(run(p, {"MSET", "hot:a", "1", "cold:b", "2", "hot:c", "3"}).keys == keys{"hot:a", "hot:c"});
    CHECK(run(p, {"RENAME", "cold:x", "hot:y"}).keys == keys{"hot:y"});
    CHECK(run(p, {"pexpire", "hot:a", "10"}).keys == keys{"hot:a"});
    CHECK(run(p, {"SETBIT", "hot:a", "1", "1"}).keys == keys{"hot:a"});
    CHECK(run(p, {"EVAL", "return 1", "2", "hot:a", "cold:b", "hot:argv"}).keys == keys{"hot:a"});
    CHECK(run(p, {"FCALL", "f", "1", "hot:a"}).keys == keys{"hot:a"});
    CHECK(run(p, {"EVAL", "return 1", "x", "hot:a"}).empty());  // Redis refuses it: nothing ran
    CHECK(run(p, {"FLUSHALL"}).flush);
    CHECK(run(p, {"flushdb", "ASYNC"}).flush);
    CHECK(run(p, {"SWAPDB", "0", "1"}).flush);
}

TEST_CASE("L1 writes: inside MULTI the keys wait for EXEC's reply; DISCARD forgets them", "[l1]") {
    l1_write_planner p;
    CHECK(run(p, {"MULTI"}, transaction_effect::begins).empty());
    CHECK(run(p, {"SET", "hot:a", "v"}, transaction_effect::none, true).empty());  // +QUEUED: nothing ran
    CHECK(run(p, {"DEL", "hot:b", "cold:c"}, transaction_effect::none, true).empty());
    auto exec = run(p, {"EXEC"}, transaction_effect::ends, true);
    CHECK(exec.keys == keys{"hot:a", "hot:b"});
    CHECK_FALSE(exec.flush);
    CHECK(run(p, {"EXEC"}, transaction_effect::ends).empty());  // nothing carries over

    run(p, {"MULTI"}, transaction_effect::begins);
    run(p, {"SET", "hot:a", "v"}, transaction_effect::none, true);
    run(p, {"FLUSHDB"}, transaction_effect::none, true);
    CHECK(run(p, {"DISCARD"}, transaction_effect::ends, true).empty());
    run(p, {"MULTI"}, transaction_effect::begins);
    run(p, {"FLUSHDB"}, transaction_effect::none, true);
    CHECK(run(p, {"EXEC"}, transaction_effect::ends, true).flush);
}

TEST_CASE("L1 writes: a transaction past the bound empties L1 at EXEC instead", "[l1]") {
    l1_write_planner p;
    run(p, {"MULTI"}, transaction_effect::begins);
    std::vector<std::string> names;
    for (std::size_t i = 0; i <= l1_write_planner::max_tx_keys; ++i) names.push_back("hot:" + std::to_string(i));
    for (const auto& n : names) run(p, {"SET", n, "v"}, transaction_effect::none, true);
    auto exec = run(p, {"EXEC"}, transaction_effect::ends, true);
    CHECK(exec.flush);
    CHECK(exec.keys.empty());
}
