// How a CLIENT LIST through one herdguard lists the clients of the others in front of the same
// Redis (client_directory.h): they are asked, live, over Redis's pub/sub. Nothing is stored in
// Redis, so the apps' keyspace (DBSIZE, KEYS, SCAN, FLUSHDB) never sees herdguard's directory.
//
// Each instance holds one subscription (a private connection, reopened a second after it breaks)
// to two channels:
//   herdguard:clients          requests from any instance: "list <tag> <n>" or
//                              "kill <tag> <n> <client id>"
//   herdguard:clients:<tag>    answers for this instance: "<n> <tag of the answering instance>",
//                              a newline, then its answer: for list, "_conns <ids>" (the CLIENT IDs
//                              of its own Redis connections) and one publish_line per client, one
//                              a line; for kill, "1" or "0"
// A CLIENT LIST sends "list" and gathers the answers: in front of one Redis, PUBLISH's count of
// receivers says how many to wait for (every instance but this one); in front of a cluster, where
// PUBLISH counts one node's subscribers only, it waits the whole answer_timeout. Either way the
// wait is bounded by answer_timeout (200 ms): an instance that does not answer in time is left
// out of that listing. Answers and requests go on worker 0's shared connection.
//
// Runs on worker 0's thread; the *_then calls may come from any thread and answer on `back`.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "herdguard/server/client_directory.h"
#include "herdguard/upstream/backend.h"
#include "herdguard/upstream/connection_registry.h"

namespace herdguard {

namespace asio = boost::asio;

class client_directory_sync : public std::enable_shared_from_this<client_directory_sync> {
public:
    static constexpr std::chrono::milliseconds answer_timeout{200};
    static constexpr std::chrono::milliseconds resubscribe_after{1000};

    client_directory_sync(asio::any_io_executor ex, std::function<backend&()> redis,
                          std::function<std::shared_ptr<client_link>()> open_link, client_directory& directory,
                          shared_connection_registry& registry, bool cluster);
    void start();
    void stop();

    // The other instances' clients and own connections, on `back`.
    void ask_others_then(asio::any_io_executor back, std::function<void(remote_clients)> done);
    // CLIENT KILL ID of another instance's client (the tag in its id says which): `done(killed)`.
    void kill_remote_then(std::uint64_t id, asio::any_io_executor back, std::function<void(bool)> done);


private:
    struct ask {
        bool list = true;
        std::int64_t expected = -1;  // answers to wait for; -1: unknown (a cluster), wait it out
        std::int64_t got = 0;
        remote_clients remote;       // the answers so far (list)
        bool killed = false;
        std::unique_ptr<asio::steady_timer> timer;
        std::function<void(const ask&)> done;
    };
    void subscribe();
    void on_push(std::string_view raw);
    void on_request(std::string_view payload);
    void on_answer(std::string_view payload);
    // Publishes "<request> <n><suffix>" and gathers the answers to ask n (bounded: max_asks).
    void send_ask(const std::string& request, const std::string& suffix, std::function<void(const ask&)> done,
                  bool list);
    void finish(std::uint64_t n);
    void publish(const std::string& channel, const std::string& payload, reply_handler* handler);

    asio::any_io_executor ex_;
    std::function<backend&()> redis_;
    std::function<std::shared_ptr<client_link>()> open_link_;
    client_directory& directory_;
    shared_connection_registry& registry_;
    const bool cluster_;
    std::shared_ptr<client_link> link_;
    asio::steady_timer retry_;
    bool subscribed_ = false;
    bool stopped_ = false;
    std::uint64_t next_ask_ = 0;
    std::map<std::uint64_t, ask> asks_;
};

}  // namespace herdguard
