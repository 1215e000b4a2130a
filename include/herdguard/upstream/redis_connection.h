// One connection to Redis, pipelined: requests are queued in order, written in batches (one write
// for everything queued in the same event-loop turn, across all clients), and each reply is handed
// to the handler of the oldest unanswered request.
//
// Two modes:
//  - shared: owned by a worker, used by many clients; reconnects by itself with exponential
//    backoff and jitter. While Redis is down, requests fail at once with
//    "-ERR herdguard: redis unavailable (<reason>)"; nothing waits for a connection that is not
//    there.
//  - private: owned by one client session in a stateful mode (MULTI, BLPOP, SUBSCRIBE, ...).
//    Connects once; when it breaks, state is lost, so it reports `closed` and stays closed.
//
// Threading: every member runs on the connection's executor (one worker's io_context, single
// threaded); callers must be on that executor too.
// Its parts: the transport (redis_transport.h: resolve, connect, TLS), the handshake as data
// (handshake.h: AUTH, SELECT, CLIENT ID), and the sans-I/O pipeline (reply_pipeline.h: pending
// requests and reply delivery). This file drives them: the run loop, batching, the watchdog.
// TLS (redis.tls): after the TCP connect, a TLS handshake with SNI and certificate verification,
// inside the same connect_timeout; each reconnect starts a new TLS session.
// Timeouts: connect + handshake within connect_timeout; each request within command_timeout unless
// it was sent with `no_timeout` (blocking commands, pushes); a timeout drops the connection, since
// a reply that arrives late can no longer be matched to its request.
#pragma once

#include <chrono>
#include <cstdint>
#include <atomic>
#include <functional>
#include <initializer_list>
#include <span>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "herdguard/config/config.h"
#include "herdguard/stats/stats.h"
#include "herdguard/resp/reply_framer.h"
#include "herdguard/upstream/backend.h"
#include "herdguard/upstream/connection_registry.h"
#include "herdguard/upstream/reply_handler.h"
#include "herdguard/upstream/redis_transport.h"
#include "herdguard/upstream/reply_pipeline.h"
#include "herdguard/util/handler_memory.h"
#include "herdguard/util/log_limiter.h"

namespace herdguard {

class redis_connection final : public client_link, public std::enable_shared_from_this<redis_connection> {
public:
    enum class mode { shared, private_ };
    enum class state { connecting, ready, down, closed };

    // `tls`: the redis.tls context (see tls_context.h), or nullptr for plain TCP. Not owned; it
    // outlives every connection (the server holds it). `resp3`: Redis speaks RESP3 on it (HELLO 3
    // in the handshake), for RESP3 clients.
    redis_connection(asio::any_io_executor ex, const redis_config& cfg, mode m, worker_stats& stats,
                     shared_connection_registry* registry, asio::ssl::context* tls = nullptr, bool resp3 = false);
    ~redis_connection();
    redis_connection(const redis_connection&) = delete;
    redis_connection& operator=(const redis_connection&) = delete;

    void start() override;
    // Closes the socket and fails every request still waiting, synchronously, before returning.
    void stop() override;

    // Queues one request (complete RESP bytes). `handler` gets its reply; nullptr means "no reply
    // expected here" (relay mode: replies go to the push sink). Never blocks.
    void send(std::string_view request, reply_handler* handler, bool no_timeout = false);
    // The same for a command given as arguments, encoded straight into the write buffer (no
    // temporary): herdguard's own commands, inline requests, and a routed GET's reads.
    void send_command(std::span<const std::string_view> argv, reply_handler* handler, bool no_timeout = false);
    void send_command(std::initializer_list<std::string_view> argv, reply_handler* handler,
                      bool no_timeout = false) {
        send_command(std::span<const std::string_view>(argv.begin(), argv.size()), handler, no_timeout);
    }
    // backend and client_link (backend.h): one connection answers every key.
    using backend::request;
    void request(std::string_view, std::span<const std::string_view> argv, reply_handler* handler) override {
        send_command(argv, handler);
    }
    void pass(const passthrough& cmd, reply_handler* handler) override {
        if (cmd.raw.empty()) send_command(cmd.argv, handler, cmd.no_timeout);
        else send(cmd.raw, handler, cmd.no_timeout);
    }

    // Relay mode: replies that match no queued request are pushes (pub/sub messages, MONITOR).
    void set_push_sink(std::function<void(std::string_view)> sink) override { push_sink_ = std::move(sink); }
    // Private mode: called once when the connection breaks or is refused.
    void set_on_closed(std::function<void(std::string_view reason)> cb) override { on_closed_ = std::move(cb); }

    state current_state() const { return state_; }
    // Readable from any thread (admin /readyz, metrics).
    bool is_up() const { return up_.load(std::memory_order_relaxed); }
    std::size_t pending() const { return pipeline_.size(); }
    std::int64_t redis_client_id() const { return client_id_; }
    // True once a connection was established: a private connection that breaks after this has
    // lost the client's state (MULTI, SELECT, subscriptions).
    bool was_connected() const override { return was_connected_; }

private:
    asio::awaitable<void> run();
    asio::awaitable<std::string> connect_and_handshake();  // "" on success, else the reason
    asio::awaitable<std::string> run_handshake(const redis_transport::attempt& attempt);
    asio::awaitable<std::string> read_loop();
    asio::awaitable<void> watchdog(std::uint64_t generation);
    bool admit(reply_handler* handler, bool no_timeout);
    void schedule_flush();
    void do_write();
    // Fails every waiting request with "redis unavailable (reason)", counting each in `counted_as`.
    void fail_all(const std::string& reason, relaxed_counter& counted_as);
    void drop(std::string reason);  // close the socket; the read loop then ends with `reason`
    bool deliver_replies();          // frames and hands out what rbuf_ holds; false on bad data
    std::string unavailable_reply(const std::string& reason) const;

    asio::any_io_executor ex_;
    redis_config cfg_;
    mode mode_;
    bool resp3_;
    worker_stats& stats_;
    shared_connection_registry* registry_;
    redis_transport transport_;  // the socket, with a TLS layer per connection when tls is set
    asio::steady_timer backoff_timer_;
    state state_ = state::connecting;
    std::atomic<bool> up_{false};
    bool stopped_ = false;
    bool was_connected_ = false;
    std::uint64_t generation_ = 0;  // one per successful connect; retires the old watchdog
    bool reported_down_ = false;     // "connect failed" logged since the last success
    log_limiter down_log_{std::chrono::seconds(10)};
    std::string last_error_ = "connecting";
    std::string drop_reason_;

    handler_memory write_memory_;  // the one write in flight
    handler_memory flush_memory_;  // the one posted flush
    std::string wbuf_;
    std::string inflight_;
    bool writing_ = false;
    bool flush_posted_ = false;
    reply_pipeline pipeline_;  // the handlers waiting for replies, and their delivery (no I/O)

    std::vector<char> rbuf_;
    std::size_t rstart_ = 0;  // first byte of the reply being framed
    std::size_t rend_ = 0;    // end of valid data
    resp::reply_framer handshake_framer_;  // the handshake's replies, read before the pipeline's

    std::int64_t client_id_ = -1;
    // A private connection learns its CLIENT ID from a request written ahead of the client's
    // first one (no round trip of its own), for CLIENT LIST (connection_registry.h).
    struct id_probe final : reply_handler {
        redis_connection* self = nullptr;
        void on_reply(std::string_view raw) override;
        void on_failure(std::string_view) override {}
    } id_probe_;
    std::string local_addr_;
    std::function<void(std::string_view)> push_sink_;
    std::function<void(std::string_view)> on_closed_;
};

}  // namespace herdguard
