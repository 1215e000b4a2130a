// One client connection. Reads a batch of requests, runs them, writes all their replies in one
// write, strictly in request order.
//
// Where each command runs (see command_table.h):
//  - local: PING, ECHO, QUIT, HELLO 3, SELECT of the configured db, CLIENT SETNAME/GETNAME/REPLY...
//  - the worker's shared connection, pipelined with every other client's commands;
//  - a private Redis connection, opened when the client enters a stateful mode (MULTI, WATCH,
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

#include "herdguard/resp/request_parser.h"
#include "herdguard/server/command_table.h"
#include "herdguard/server/reply_queue.h"
#include "herdguard/server/worker.h"
#include "herdguard/upstream/redis_connection.h"
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
    // Where a request will run; decided before it runs so the session can wait at a switch.
    struct plan {
        command_kind kind;
        redis_connection* target;  // nullptr: answered locally
        bool open_private;         // needs the private connection first
        bool no_timeout;           // blocking command: no command_timeout
        bool barrier;              // wait for every outstanding reply first (RESET)
        route_runtime* route;      // a GET of a routed key: the read-through path
        bool routed_mget;          // an MGET with at least one routed key
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
    plan make_plan(const resp::request& req);
    void execute(const resp::request& req, const plan& p);
    void forward(const resp::request& req, redis_connection& conn, bool no_timeout);
    void relay(const resp::request& req);

    void handle_hello(const resp::request& req, const plan& p);
    void handle_select(const resp::request& req, const plan& p);
    void handle_reset();
    void handle_client(const resp::request& req, const plan& p);
    void handle_info(const resp::request& req, const plan& p);
    void herd_get(const resp::request& req, route_runtime& route);
    void herd_mget(const resp::request& req);
    bool routing_enabled() const;
    bool auth_gate(resp::request& req);
    std::string check_credentials(std::string_view user, std::string_view password);

    reply_queue::slot& new_slot();
    bool take_suppress();  // CLIENT REPLY OFF/SKIP state for the next reply
    void reply_local(std::string_view bytes);
    void write_reply(std::string_view bytes) override {
        if (!bytes.empty() && bytes[0] == '-') stats_.error_replies.add();
        append_out(bytes);
    }
    void all_answered() override;
    void append_out(std::string_view bytes);
    void flush_out();
    void open_private();
    void on_private_closed();
    void close_now();

    tls_stream socket_;  // plain, or TLS on tls.listen (see tls_stream.h)
    worker& worker_;
    const config& cfg_;
    worker_stats& stats_;
    redis_connection& shared_;
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
    redis_connection* last_target_ = nullptr;

    std::string out_;   // replies waiting to be written
    std::string wout_;  // the write in flight
    bool writing_ = false;
    bool close_after_write_ = false;
    asio::steady_timer idle_timer_;  // limits.client_timeout; before that, tls.handshake_timeout

    std::shared_ptr<redis_connection> private_;
    bool relay_ = false;
    bool authenticated_ = true;  // false until AUTH when auth.password / auth.users are set
    bool in_multi_ = false;    // GETs inside MULTI are plain pass-through (no loads in transactions)
    bool db_default_ = true;   // routes apply to the configured database only
    bool closing_ = false;
    bool closed_ = false;
    std::optional<std::string> name_;
    std::optional<std::string> lib_name_;
    std::optional<std::string> lib_ver_;
    enum class reply_mode { on, off, skip } reply_mode_ = reply_mode::on;
    std::chrono::steady_clock::time_point last_activity_;
};

}  // namespace herdguard
