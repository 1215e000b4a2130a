// One client connection. Reads a batch of requests, runs them, writes all their replies in one
// write, strictly in request order.
//
// Where each command runs (see command_table.h):
//  - local: PING, ECHO, QUIT, SELECT of the configured db, CLIENT SETNAME/GETNAME/REPLY,
//    UNSUBSCRIBE without subscriptions, HELLO's errors...
//  - the worker's shared connection, pipelined with every other client's commands (a backend:
//    worker::session_backend(), upstream/backend.h);
//  - a private Redis connection (a client_link, from worker::open_client_link()), opened when
//    the client enters a stateful mode (MULTI, WATCH,
//    blocking commands, AUTH, SELECT of another db, CLIENT ID/LIST/TRACKING...) and kept until the
//    client disconnects or sends RESET, so what it sees of "its" connection is what Redis shows;
//  - relay mode (SUBSCRIBE family, MONITOR): the private connection's replies and pushes stream to
//    the client as they arrive.
// Order: before a command goes to a different connection than the ones still answering, the
// session waits for those answers, so a client's commands execute in the order it sent them.
//
// TLS (a client of tls.listen): the handshake runs first, within tls.handshake_timeout; a
// client that fails it or stays silent is dropped (tls_handshake_failures). Then the session
// runs exactly as on the plain listener.
//
// Lifetime: the session owns its socket and its private connection. Pending reads and writes hold
// a shared_ptr to it, and while replies are outstanding it holds one to itself (keep_alive_),
// since reply slots that Redis connections will complete point into it.
#pragma once

#include <deque>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

#include "herdguard/resp/reply_view.h"
#include "herdguard/resp/request_parser.h"
#include "herdguard/server/client_auth.h"
#include "herdguard/server/client_state.h"
#include "herdguard/server/l1_writes.h"
#include "herdguard/server/command_plan.h"
#include "herdguard/server/reply_queue.h"
#include "herdguard/server/worker.h"
#include "herdguard/tls/tls_stream.h"
#include "herdguard/upstream/backend.h"
#include "herdguard/util/handler_memory.h"

namespace herdguard {

class session : public std::enable_shared_from_this<session>, private reply_queue::sink {
public:
    // `tls`: the client TLS context (tls.listen), or nullptr on the plain listener.
    session(stream_socket socket, worker& w, asio::ssl::context* tls = nullptr);
    ~session();
    session(const session&) = delete;
    session& operator=(const session&) = delete;

    void start();

private:
    // The routes a read-through GET or MGET matched (command_plan::reads), looked up once per
    // command: a GET of no route's key is a plain GET.
    struct routed_keys {
        route_runtime* route = nullptr;  // GET of a routed key
        bool mget = false;               // MGET with at least one routed key
        bool any() const { return route != nullptr || mget; }
    };

    // What to do once every outstanding reply is in.
    enum class step { none, process, after_batch, finish };

    void tls_handshake();
    void serve();
    void do_read();
    void on_read(const boost::system::error_code& ec, std::size_t n);
    void process();
    void after_batch();
    void wait_then(step next);
    void resume();
    void finish();
    bool watch_while_waiting() const;
    void stop_reading();
    asio::awaitable<void> idle_watchdog();
    planning_context planning() const;
    routed_keys find_routes(const resp::request& req, const command_plan& p) const;
    backend* target_of(const command_plan& p, const routed_keys& routed);
    backend& shared_for(int protocol);
    void speak(int protocol);  // the client's protocol from now on (HELLO, RESET)
    void execute(const resp::request& req, const command_plan& p, const routed_keys& routed);
    void forward(const resp::request& req, backend& to, const command_plan& p);
    void relay(const resp::request& req);
    void revoke_written_keys(const std::vector<std::string_view>& argv, bool drop_l1 = false);
    reply_handler* l1_read_your_writes(const std::vector<std::string_view>& argv, const command_plan& p,
                                       reply_handler& slot);
    static passthrough passthrough_of(const resp::request& req, bool no_timeout);

    void handle_reset();
    void handle_hello(const resp::request& req, const command_plan& p, backend* target);
    void handle_client(const resp::request& req, const command_plan& p, backend* target);
    bool handle_client_kill(const resp::request& req, backend* target);
    void handle_client_list(const resp::request& req, backend& target);
    // This client as CLIENT LIST shows it, told to the directory after each command that may
    // change it (client_directory.h).
    void note_identity();
    void register_client();
    void handle_info(const resp::request& req, const command_plan& p, backend* target);
    void herd_get(const resp::request& req, route_runtime& route);
    void herd_mget(const resp::request& req);
    bool auth_gate(resp::request& req, command_kind kind);
    bool apply_verdict(resp::request& req, const auth_verdict& verdict);

    reply_queue::slot& new_slot();
    void reply_local(std::string_view bytes);
    void write_reply(std::string_view bytes) override {
        if (resp::reply_view(bytes).is_error()) stats_.error_replies.add();
        // A RESP3 client's nulls from RESP2 sources (the herd engine reads on RESP2 connections,
        // some local answers): Redis says "_" to it. A RESP3 connection never sends these two.
        if (state_.protocol == 3 && (bytes == "$-1\r\n" || bytes == "*-1\r\n")) bytes = "_\r\n";
        append_out(bytes);
    }
    void all_answered() override;
    void flush_now() override { flush_out(); }
    void append_out(std::string_view bytes);
    void flush_out();
    void open_private();
    void drop_private();
    void stream_pushes();
    void on_private_closed();
    void close_now();

    tls_stream socket_;  // plain, or TLS on tls.listen (see tls_stream.h)
    worker& worker_;
    const config& cfg_;
    worker_stats& stats_;
    // worker::session_backend(): one Redis connection for all our commands, per protocol (index
    // 0: RESP2, 1: RESP3), taken when first needed and kept.
    backend* shared_[2] = {nullptr, nullptr};
    backend* shared_now_ = nullptr;  // shared_for(state_.protocol): the hot path reads this one
    resp::request_parser parser_;

    std::vector<char> rbuf_;
    std::size_t rstart_ = 0;
    std::size_t rend_ = 0;
    resp::request request_;  // reused: its vectors keep their capacity
    // One pending operation of each kind at a time: their handlers live here, not on the heap.
    handler_memory read_memory_;
    handler_memory write_memory_;
    bool reading_ = false;
    step resume_ = step::none;
    std::shared_ptr<session> keep_alive_;  // held while replies are outstanding

    reply_queue replies_{*this};  // unanswered or not yet written, oldest first
    backend* last_target_ = nullptr;

    std::string out_;   // replies waiting to be written
    std::string wout_;  // the write in flight
    bool writing_ = false;
    bool close_after_write_ = false;
    asio::steady_timer idle_timer_;  // limits.client_timeout; before that, tls.handshake_timeout

    std::shared_ptr<client_link> private_;
    bool protocol_pending_ = false;  // a HELLO's reply is awaited: the next command waits for it
    l1_write_planner l1_writes_;  // what each write drops from L1 at its reply (l1_writes.h)
    client_state state_;  // name, reply mode, auth, transaction, db, relay (client_state.h)
    std::shared_ptr<client_directory::entry> entry_;  // this client in CLIENT LIST
    std::int64_t told_id_ = 0;  // what CLIENT ID answered (its private connection's id)
    bool closing_ = false;
    bool closed_ = false;
    std::chrono::steady_clock::time_point last_activity_;
};

}  // namespace herdguard
