// A worker's shared connections as a backend: one key always on one connection (so its replies
// keep their order), keyless commands spread. The connections are never started: a command
// waits in the connection's pipeline, which is all this looks at.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "herdguard/upstream/shared_connections.h"

using namespace herdguard;

TEST_CASE("shared connections: a key keeps to one connection, keyless commands take turns", "[backend]") {
    boost::asio::io_context io;
    redis_config cfg;
    worker_stats stats;
    shared_connections shared;
    for (int i = 0; i < 3; ++i)
        shared.add(std::make_shared<redis_connection>(io.get_executor(), cfg, redis_connection::mode::shared, stats,
                                                      nullptr));
    backend& b = shared;
    auto pending = [&] {
        std::vector<std::size_t> out;
        for (const auto& c : shared.all()) out.push_back(c->pending());
        return out;
    };
    for (int i = 0; i < 5; ++i) b.request("k:1", {"GET", "k:1"}, &discard_reply());
    auto after_key = pending();
    CHECK(std::count(after_key.begin(), after_key.end(), 5u) == 1);
    CHECK(std::count(after_key.begin(), after_key.end(), 0u) == 2);
    for (int i = 0; i < 3; ++i) b.request("", {"PING"}, &discard_reply());
    auto after_keyless = pending();
    for (std::size_t i = 0; i < after_keyless.size(); ++i) CHECK(after_keyless[i] == after_key[i] + 1);
    // A client's command passed through goes by its first key (resp/command_keys.h): with the
    // commands sent for that key above, not round-robin.
    const std::vector<std::string_view> set{"SET", "k:1", "v"};
    b.pass({set, "*3\r\n$3\r\nSET\r\n$3\r\nk:1\r\n$1\r\nv\r\n"}, &discard_reply());
    const std::vector<std::string_view> eval{"EVAL", "return 1", "1", "k:1"};
    b.pass({eval, ""}, &discard_reply());
    auto after_pass = pending();
    for (std::size_t i = 0; i < after_pass.size(); ++i)
        CHECK(after_pass[i] == after_keyless[i] + (after_key[i] == 5u ? 2u : 0u));
    for (auto& c : shared.all()) c->stop();
}
