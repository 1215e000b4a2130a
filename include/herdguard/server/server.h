// The RESP listener and its worker threads. Accepts on its own thread and hands each connection
// to the next worker, round-robin; a worker runs the session and its Redis connections.
#pragma once

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "herdguard/config/config.h"
#include "herdguard/server/worker.h"

namespace herdguard {

class server {
public:
    explicit server(const config& cfg);
    ~server();
    server(const server&) = delete;
    server& operator=(const server&) = delete;

    // Binds the listener (throws std::system_error naming the address on failure), starts the
    // workers and their Redis connections, then serves until stop(). Blocks.
    void run();
    // Thread-safe; returns at once. run() returns once workers have stopped.
    void stop();
    // Graceful shutdown, from any thread but the workers': readiness turns 503, the listener
    // closes, requests and loads in flight finish (up to `timeout`), then stop(). Blocks.
    // Returns false when the timeout cut something off.
    bool drain(duration timeout);

    // New routes for new requests (SIGHUP); see herd_engine::reload. Thread-safe.
    // The L1 tracking connection starts over when the routes' L1 prefixes changed.
    std::size_t reload_routes(const std::vector<route_config>& routes);

private:
    struct acceptor_impl;

    const config& cfg_;
    // The cluster map's lookups count here (they run on the acceptor's thread, not a worker's).
    worker_stats cluster_stats_;
    server_state state_;
    asio::io_context accept_ctx_{1};
    std::vector<std::unique_ptr<worker>> workers_;
    std::vector<std::thread> threads_;
    std::unique_ptr<acceptor_impl> acceptor_;
    std::unique_ptr<class admin_server> admin_;
    std::atomic<class admin_server*> admin_ptr_{nullptr};  // for drain() on the signal thread
    // On worker 0 (herd/l1_tracking.h). Set by the constructor, never changed: read by the
    // signal thread (reload_routes) and stop().
    std::shared_ptr<class l1_tracking> l1_tracking_;
};

}  // namespace herdguard
