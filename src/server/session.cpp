#include "herdguard/server/session.h"

#include <array>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "herdguard/metrics/info.h"
#include "herdguard/server/herdguard_command.h"
#include "herdguard/resp/reply.h"
#include "herdguard/util/constant_time.h"
#include "herdguard/util/tls_context.h"

namespace herdguard {

namespace {

using boost::system::error_code;
constexpr std::size_t initial_read = 16 * 1024;
constexpr std::size_t side_limit = 64 * 1024;

resp::parser_limits limits_from(const config& cfg) {
    return {cfg.limits.max_request_bytes, cfg.limits.max_array_length, cfg.limits.max_inline_bytes};
}

std::string wrong_arity(std::string_view name) {
    return resp::error_reply("ERR wrong number of arguments for '" + ascii_lower(name) + "' command");
}

}  // namespace

session::session(stream_socket socket, worker& w, asio::ssl::context* tls)
    : socket_(std::move(socket)),
      worker_(w),
      cfg_(w.server.cfg),
      stats_(w.stats),
      shared_(w.pick_shared()),
      parser_(limits_from(w.server.cfg)),
      idle_timer_(socket_.get_executor()) {
    rbuf_.resize(initial_read);
    authenticated_ = !cfg_.auth.enabled();
    if (tls) socket_.enable_tls(*tls);
}

session::~session() {
    if (private_) private_->stop();  // its push sink points at us
    worker_.server.connected_clients.fetch_sub(1, std::memory_order_relaxed);
}

void session::start() {
    if (socket_.is_tls()) {
        tls_handshake();
        return;
    }
    serve();
}

// Before the first read, bounded by tls.handshake_timeout (idle_timer_ is free until serve()): a
// client that connects and never completes the handshake must not hold a connection slot.
void session::tls_handshake() {
    auto failed = [this](const std::string& why) {
        stats_.tls_handshake_failures.add();
        if (std::uint64_t suppressed = 0; worker_.server.tls_log.allow(suppressed))
            spdlog::warn("client TLS handshake failed: {} ({} similar lines suppressed)", why, suppressed);
        close_now();
    };
    idle_timer_.expires_after(cfg_.tls.handshake_timeout);
    idle_timer_.async_wait([self = shared_from_this(), failed](const error_code& ec) {
        // last_activity_ is set by serve(): the handshake finished as the timer fired.
        if (ec || self->closed_ || self->last_activity_ != std::chrono::steady_clock::time_point{}) return;
        failed(fmt::format("no handshake within tls.handshake_timeout ({})",
                           format_duration(self->cfg_.tls.handshake_timeout)));
    });
    socket_.async_handshake(/*as_server=*/true, [self = shared_from_this(), failed](const error_code& ec) {
        if (self->closed_) return;  // timed out: already counted and closed
        self->idle_timer_.cancel();
        if (ec) return failed(tls_handshake_error(ec, self->socket_.native_handle()));
        self->serve();
    });
}

void session::serve() {
    last_activity_ = std::chrono::steady_clock::now();
    do_read();
    if (cfg_.limits.client_timeout.count() > 0)
        asio::co_spawn(socket_.get_executor(), [self = shared_from_this()] { return self->idle_watchdog(); },
                       asio::detached);
}

// ---------------------------------------------------------------------------------------------
// The loop, as completion handlers (a coroutine frame per operation cost ~15% of the CPU on this
// path): read -> process() runs every complete request, pausing where it must wait for answers
// -> after_batch() writes all replies in one go -> read.
//
// A pause never holds views into rbuf_: the request that must wait is parsed again when
// process() resumes, so bytes may keep arriving (and rbuf_ may grow) meanwhile.

void session::do_read() {
    if (reading_ || closed_) return;
    if (rstart_ == rend_) {
        rstart_ = rend_ = 0;
        if (rbuf_.size() > 1024 * 1024) {  // a huge request has passed: give the memory back
            rbuf_.resize(initial_read);
            rbuf_.shrink_to_fit();
        }
    } else if (rstart_ > 0 && resume_ == step::none) {
        std::memmove(rbuf_.data(), rbuf_.data() + rstart_, rend_ - rstart_);
        rend_ -= rstart_;
        rstart_ = 0;
    }
    // Grow with the data that actually arrives, never by what a header claims: a client that
    // announces a 512 MB bulk and sends nothing must not make us commit 512 MB. At most doubling
    // per read keeps a real large value cheap (a few dozen reads) and memory <= 2x what came in.
    // Doubling also when many small arguments fill the buffer, so a huge multibulk is copied
    // O(n) times in total, not O(n^2).
    std::size_t want = rend_ + 4096;
    if (parser_.bytes_needed() > want) want = std::min(parser_.bytes_needed(), rbuf_.size() * 2);
    if (want > rbuf_.size()) rbuf_.resize(std::max(want, rbuf_.size() * 2));
    reading_ = true;
    socket_.async_read_some(asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_),
                            asio::bind_allocator(handler_allocator<int>(read_memory_),
                                                 [self = shared_from_this()](const error_code& ec, std::size_t n) {
                                                     self->reading_ = false;
                                                     self->on_read(ec, n);
                                                 }));
}

void session::on_read(const error_code& ec, std::size_t n) {
    if (ec) {
        // Hung up (or cut off). A client blocked in BLPOP that hangs up must release its private
        // connection at once, as Redis would notice and unblock.
        closing_ = true;
        if (private_) private_->stop();
        if (resume_ == step::none) finish();
        return;
    }
    rend_ += n;
    stats_.bytes_in.add(n);
    last_activity_ = std::chrono::steady_clock::now();
    if (resume_ != step::none) {
        // Still waiting for answers: keep the bytes for later, and keep watching a blocked client
        // for a hang-up while the pipelined bytes stay bounded.
        if (watch_while_waiting()) do_read();
        return;
    }
    process();
}

void session::process() {
    resp::request& req = request_;
    while (!closing_) {
        std::size_t consumed = 0;
        auto status = parser_.parse(std::string_view(rbuf_.data() + rstart_, rend_ - rstart_), req, consumed);
        if (status == resp::parse_status::need_more) break;
        if (status == resp::parse_status::error) {
            stats_.protocol_errors.add();
            spdlog::debug("client protocol error: {}", parser_.error());
            reply_local(resp::error_reply("ERR Protocol error: " + parser_.error()));
            closing_ = true;  // as Redis: reply, then close
            break;
        }
        if (req.argv.empty()) {  // empty inline line or "*0": ignored, as Redis does
            rstart_ += consumed;
            continue;
        }
        if (auth_gate(req)) {  // answered: AUTH, or -NOAUTH before authentication
            rstart_ += consumed;
            stats_.commands.add();
            continue;
        }
        if (relay_) {
            rstart_ += consumed;
            stats_.commands.add();
            relay(req);
            continue;
        }
        // Order across connections: before a command runs on another connection than the one
        // still answering, wait for those answers; then parse and plan it again.
        plan p = make_plan(req);
        if (replies_.outstanding() > 0 && (p.barrier || (p.target != nullptr && p.target != last_target_))) {
            wait_then(step::process);
            return;
        }
        rstart_ += consumed;
        stats_.commands.add();
        execute(req, p);
    }
    if (replies_.outstanding() > 0) {
        wait_then(step::after_batch);
        return;
    }
    after_batch();
}

void session::after_batch() {
    flush_out();
    if (closing_) {
        finish();
        return;
    }
    do_read();
}

bool session::watch_while_waiting() const {
    return !closing_ && private_ && last_target_ == private_.get() && rend_ - rstart_ < side_limit;
}

void session::wait_then(step next) {
    resume_ = next;
    if (!keep_alive_) worker_.server.busy_sessions.fetch_add(1, std::memory_order_relaxed);
    keep_alive_ = shared_from_this();  // reply slots point into us until they are answered
    if (watch_while_waiting()) do_read();
}

void session::all_answered() {
    // Called from inside a connection's reply delivery. Continuing right here is safe: the
    // connection has already taken this reply off its queue and re-checks its own state after
    // every handler, and process() only appends to connections' write buffers. It saves a post
    // per batch on the hot path.
    if (resume_ != step::none) resume();
}

void session::resume() {
    auto self = std::move(keep_alive_);
    if (self) worker_.server.busy_sessions.fetch_sub(1, std::memory_order_relaxed);
    auto next = std::exchange(resume_, step::none);
    if (replies_.outstanding() > 0) {  // answered, then more was sent meanwhile: keep waiting
        wait_then(next);
        return;
    }
    switch (next) {
        case step::none:
            return;
        case step::process:
            process();
            return;
        case step::after_batch:
            after_batch();
            return;
        case step::finish:
            finish();
            return;
    }
}

// Tear down: the private connection fails what it still holds (synchronously); the shared one
// answers or times out within command_timeout. Then the last replies (QUIT's +OK, a protocol
// error) go out before the socket closes.
void session::finish() {
    closing_ = true;
    if (private_) private_->stop();
    if (replies_.outstanding() > 0) {
        wait_then(step::finish);
        return;
    }
    flush_out();
    if (writing_) {
        close_after_write_ = true;
        return;
    }
    close_now();
}

asio::awaitable<void> session::idle_watchdog() {
    auto self = shared_from_this();
    const auto timeout = cfg_.limits.client_timeout;
    while (!closed_) {
        idle_timer_.expires_after(std::max(timeout / 2, std::chrono::milliseconds(10)));
        co_await idle_timer_.async_wait(asio::as_tuple(asio::use_awaitable));
        if (closed_) break;
        // Like Redis's timeout: blocked and subscribed clients are exempt.
        bool exempt = relay_ || replies_.outstanding() > 0;
        if (!exempt && std::chrono::steady_clock::now() - last_activity_ > timeout) {
            spdlog::debug("closing idle client after {}ms", timeout.count());
            closing_ = true;
            stop_reading();
            break;
        }
    }
}

void session::stop_reading() {
    // Ends a pending read with EOF, leaving writes alone (cancel() would abort them too).
    error_code ignored;
    socket_.shutdown(stream_socket::shutdown_receive, ignored);
}

// ---------------------------------------------------------------------------------------------
// Deciding and executing.

session::plan session::make_plan(const resp::request& req) {
    const auto& argv = req.argv;
    plan p{classify(argv), &shared_, false, false, false, nullptr, false};
    switch (p.kind) {
        case command_kind::forward:
            if (routing_enabled()) {
                auto& herd = worker_.server.herd;
                if (argv.size() == 2 && iequals(argv[0], "get")) {
                    p.route = herd.find_route(argv[1]);
                } else if (argv.size() >= 2 && iequals(argv[0], "mget")) {
                    for (std::size_t i = 1; i < argv.size() && !p.routed_mget; ++i)
                        p.routed_mget = herd.find_route(argv[i]) != nullptr;
                }
            }
            break;
        case command_kind::info:
            if (argv.size() == 2 && iequals(argv[1], "herdguard")) p.target = nullptr;
            break;
        case command_kind::needs_private:
            p.open_private = true;
            p.no_timeout = is_blocking(argv);
            break;
        case command_kind::relay:
            p.open_private = true;
            p.no_timeout = true;
            break;
        case command_kind::ping:
        case command_kind::echo:
            // Inside a private connection these may be queued by MULTI: let Redis answer.
            if (!private_) p.target = nullptr;
            break;
        case command_kind::quit:
        case command_kind::herdguard:
            p.target = nullptr;
            break;
        case command_kind::reset:
            p.target = nullptr;
            p.barrier = true;
            break;
        case command_kind::hello: {
            std::int64_t ver = 0;
            if (argv.size() >= 2 && (!resp::parse_int64(argv[1], ver) || ver != 2)) p.target = nullptr;
            else if (argv.size() > 2) p.open_private = true;  // AUTH / SETNAME options
            break;
        }
        case command_kind::select: {
            std::int64_t db = 0;
            if (private_) break;
            if (argv.size() == 2 && resp::parse_int64(argv[1], db)) {
                if (db == cfg_.redis.database) p.target = nullptr;  // already there
                else p.open_private = true;
            }
            break;  // anything else: Redis answers the error, state unchanged
        }
        case command_kind::client: {
            switch (classify_client(argv)) {
                case client_subcommand::local_name:
                    if (!private_) p.target = nullptr;
                    break;
                case client_subcommand::local_reply:
                    p.target = nullptr;
                    break;
                case client_subcommand::shared:
                    break;
                case client_subcommand::kill:
                case client_subcommand::needs_private:
                    p.open_private = true;
                    break;
            }
            break;
        }
    }
    // A client with a private connection uses it for everything it forwards, except the
    // read-through path, whose reads belong on the shared connection (the ordering rule in run()
    // first drains the private one).
    if (p.open_private && !private_) open_private();
    if (p.target != nullptr && private_ && p.route == nullptr && !p.routed_mget) p.target = private_.get();
    return p;
}

void session::execute(const resp::request& req, const plan& p) {
    const auto& argv = req.argv;
    switch (p.kind) {
        case command_kind::relay:
            relay(req);
            return;
        case command_kind::ping:  // PING [message] and ECHO message: the argument comes back
        case command_kind::echo:
            if (p.target != nullptr) break;
            stats_.commands_local.add();
            if (p.kind == command_kind::ping && argv.size() == 1) {
                reply_local("+PONG\r\n");
            } else if (argv.size() == 2) {
                std::string out;
                resp::append_bulk(out, argv[1]);
                reply_local(out);
            } else {
                reply_local(wrong_arity(argv[0]));
            }
            return;
        case command_kind::quit:
            stats_.commands_local.add();
            reply_local("+OK\r\n");
            closing_ = true;
            return;
        case command_kind::reset:
            handle_reset();
            return;
        case command_kind::hello:
            handle_hello(req, p);
            return;
        case command_kind::select:
            handle_select(req, p);
            return;
        case command_kind::client:
            handle_client(req, p);
            return;
        case command_kind::info:
            handle_info(req, p);
            return;
        case command_kind::herdguard:
            stats_.commands_local.add();
            reply_local(herdguard_command(argv, worker_.server));
            return;
        case command_kind::forward:
            if (p.route != nullptr) return herd_get(req, *p.route);
            if (p.routed_mget) return herd_mget(req);
            break;
        case command_kind::needs_private:
            break;
    }
    forward(req, *p.target, p.no_timeout);
}

void session::forward(const resp::request& req, redis_connection& conn, bool no_timeout) {
    stats_.commands_forwarded.add();
    const auto& argv = req.argv;
    auto& herd = worker_.server.herd;
    if (!herd.empty()) {
        // Stale-set protection: revoke leases on routed keys before the write runs, on the shared
        // connection, so a load that started earlier can never overwrite what the client wrote.
        for_each_written_key(argv, [&](std::string_view key) {
            if (herd.find_route(key) != nullptr) herd.revoke(key, worker_, shared_);
        });
    }
    if (iequals(argv[0], "multi")) in_multi_ = true;
    else if (iequals(argv[0], "exec") || iequals(argv[0], "discard")) in_multi_ = false;
    last_target_ = &conn;
    auto& slot = new_slot();
    if (req.is_inline) conn.send_command(req.argv, &slot, no_timeout);
    else conn.send(req.raw, &slot, no_timeout);
}

void session::relay(const resp::request& req) {
    // Pushes and replies now stream straight from the private connection to the client; Redis
    // enforces what is allowed in subscribed mode, and answers in order on its one connection.
    if (!relay_) {
        relay_ = true;
        last_target_ = private_.get();
        private_->set_push_sink([this](std::string_view bytes) {
            append_out(bytes);
            flush_out();
        });
    }
    stats_.commands_forwarded.add();
    if (req.is_inline) private_->send_command(req.argv, nullptr, true);
    else private_->send(req.raw, nullptr, true);
}

void session::handle_hello(const resp::request& req, const plan& p) {
    if (p.target != nullptr) {
        forward(req, *p.target, false);
        return;
    }
    stats_.commands_local.add();
    std::int64_t ver = 0;
    if (!resp::parse_int64(req.argv[1], ver)) {
        reply_local("-ERR Protocol version is not an integer or out of range\r\n");
    } else {
        // herdguard speaks RESP2 only; clients that ask for 3 get Redis's answer for an unknown
        // version and fall back to RESP2 (docs/COMPATIBILITY.md).
        reply_local("-NOPROTO unsupported protocol version\r\n");
    }
}

void session::handle_select(const resp::request& req, const plan& p) {
    if (p.target != nullptr) {
        // A failed SELECT leaves the db unchanged; assuming it changed only turns routing off
        // for this client, the safe direction.
        std::int64_t db = 0;
        if (req.argv.size() == 2 && resp::parse_int64(req.argv[1], db)) db_default_ = db == cfg_.redis.database;
        forward(req, *p.target, false);
        return;
    }
    stats_.commands_local.add();
    db_default_ = true;
    reply_local("+OK\r\n");
}

// Client authentication, when auth.password or auth.users is set (otherwise AUTH goes to Redis
// on a private connection, as it would without a proxy). Returns true when the request was
// answered here. May strip "AUTH user pass" from a HELLO, which then continues as usual.
bool session::auth_gate(resp::request& req) {
    if (!cfg_.auth.enabled()) return false;
    auto& argv = req.argv;
    if (iequals(argv[0], "auth")) {
        stats_.commands_local.add();
        if (argv.size() == 2) reply_local(check_credentials("default", argv[1]));
        else if (argv.size() == 3) reply_local(check_credentials(argv[1], argv[2]));
        else reply_local(resp::error_reply("ERR syntax error"));
        return true;
    }
    if (iequals(argv[0], "hello")) {
        // HELLO [protover [AUTH user pass] [SETNAME name]]: a version other than 2 is answered
        // (NOPROTO) before credentials are looked at, as Redis does.
        std::int64_t ver = 0;
        if (argv.size() >= 2 && (!resp::parse_int64(argv[1], ver) || ver != 2)) return false;
        for (std::size_t i = 2; i < argv.size(); ++i) {
            if (!iequals(argv[i], "auth")) continue;
            if (i + 2 >= argv.size()) {
                stats_.commands_local.add();
                reply_local(resp::error_reply("ERR Syntax error in HELLO option 'auth'"));
                return true;
            }
            std::string verdict = check_credentials(argv[i + 1], argv[i + 2]);
            if (verdict[0] == '-') {
                stats_.commands_local.add();
                reply_local(verdict);
                return true;
            }
            // Authenticated here; Redis sees the HELLO without our credentials.
            argv.erase(argv.begin() + static_cast<std::ptrdiff_t>(i), argv.begin() + static_cast<std::ptrdiff_t>(i + 3));
            req.is_inline = true;  // re-encoded from argv when forwarded
            return false;
        }
        if (authenticated_) return false;
        stats_.commands_local.add();
        reply_local(resp::error_reply(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> "
            "AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol "
            "version at the same time"));
        return true;
    }
    // QUIT and RESET are allowed before AUTH, as in Redis (their no-auth flag).
    if (authenticated_ || iequals(argv[0], "quit") || iequals(argv[0], "reset")) return false;
    stats_.commands_local.add();
    reply_local("-NOAUTH Authentication required.\r\n");
    return true;
}

std::string session::check_credentials(std::string_view user, std::string_view password) {
    const auto& auth = cfg_.auth;
    bool ok = false;
    if (user == "default") ok = !auth.password.empty() && constant_time_equals(password, auth.password);
    for (const auto& u : auth.users) {
        // Every user's password is compared, matching name or not, so the time does not tell
        // which names exist.
        bool match = constant_time_equals(password, u.password);
        if (u.name == user) ok = ok || match;
    }
    if (!ok) {
        // A failed AUTH leaves an earlier authentication in place, as in Redis 6+.
        return "-WRONGPASS invalid username-password pair or user is disabled.\r\n";
    }
    authenticated_ = true;
    return "+OK\r\n";
}

bool session::routing_enabled() const {
    return !worker_.server.herd.empty() && db_default_ && !in_multi_ && !relay_;
}

void session::herd_get(const resp::request& req, route_runtime& route) {
    last_target_ = &shared_;
    auto& slot = new_slot();
    worker_.server.herd.get(route, std::string(req.argv[1]), worker_, shared_, slot);
}

namespace {

// MGET key by key: routed keys through the read-through path, the others as plain GETs, the
// replies assembled in order. Errors follow MGET's rules: a key of the wrong type is nil; an
// unavailable Redis or upstream fails the whole MGET with its error.
class mget_op {
public:
    mget_op(reply_handler& slot, std::size_t keys) : slot_(slot), parts_(keys), handlers_(keys), pending_(keys + 1) {
        for (std::size_t i = 0; i < keys; ++i) handlers_[i] = part{this, i};
    }
    reply_handler& part_handler(std::size_t i) { return handlers_[i]; }
    void dispatched() { done_one(); }  // the extra count that keeps us alive while dispatching

private:
    struct part final : reply_handler {
        part() = default;
        part(mget_op* o, std::size_t i) : op(o), index(i) {}
        mget_op* op = nullptr;
        std::size_t index = 0;
        void on_reply(std::string_view raw) override { op->store(index, raw); }
        void on_failure(std::string_view raw) override { op->store(index, raw); }
    };

    void store(std::size_t i, std::string_view raw) {
        parts_[i].assign(raw);
        done_one();
    }
    void done_one() {
        if (--pending_ > 0) return;
        std::string out;
        for (const auto& p : parts_) {
            if (!p.empty() && p[0] == '-' && p.rfind("-WRONGTYPE", 0) != 0) {
                slot_.on_reply(p);
                delete this;
                return;
            }
        }
        resp::append_array_header(out, static_cast<std::int64_t>(parts_.size()));
        for (const auto& p : parts_) out += (!p.empty() && p[0] == '-') ? std::string("$-1\r\n") : p;
        slot_.on_reply(out);
        delete this;
    }

    reply_handler& slot_;
    std::vector<std::string> parts_;
    std::vector<part> handlers_;
    std::size_t pending_;
};

}  // namespace

void session::herd_mget(const resp::request& req) {
    last_target_ = &shared_;
    auto& slot = new_slot();
    auto& herd = worker_.server.herd;
    const auto& argv = req.argv;
    auto* op = new mget_op(slot, argv.size() - 1);
    for (std::size_t i = 1; i < argv.size(); ++i) {
        auto& part = op->part_handler(i - 1);
        if (auto* route = herd.find_route(argv[i])) herd.get(*route, std::string(argv[i]), worker_, shared_, part);
        else shared_.send_command({"GET", argv[i]}, &part);
    }
    op->dispatched();
}

namespace {

// Appends the "# Herdguard" section to Redis's INFO reply (a bulk string).
class info_append final : public reply_handler {
public:
    info_append(reply_handler& slot, std::string section) : slot_(slot), section_(std::move(section)) {}
    void on_reply(std::string_view raw) override {
        std::size_t eol = raw.find("\r\n");
        std::int64_t len = -1;
        if (!raw.empty() && raw[0] == '$' && eol != std::string_view::npos &&
            resp::parse_int64(raw.substr(1, eol - 1), len) && len >= 0) {
            std::string body(raw.substr(eol + 2, static_cast<std::size_t>(len)));
            body += "\r\n" + section_;
            std::string out;
            resp::append_bulk(out, body);
            slot_.on_reply(out);
        } else {
            slot_.on_reply(raw);
        }
        delete this;
    }
    void on_failure(std::string_view error) override {
        slot_.on_failure(error);
        delete this;
    }

private:
    reply_handler& slot_;
    std::string section_;
};

}  // namespace

void session::handle_info(const resp::request& req, const plan& p) {
    const auto& argv = req.argv;
    if (p.target == nullptr) {
        std::string out;
        resp::append_bulk(out, herdguard_info(worker_.server));  // taken before this command counts
        stats_.commands_local.add();
        reply_local(out);
        return;
    }
    // Our section goes with the default set: INFO, INFO default / all / everything.
    bool append = argv.size() == 1;
    for (std::size_t i = 1; i < argv.size(); ++i) {
        if (iequals(argv[i], "default") || iequals(argv[i], "all") || iequals(argv[i], "everything") ||
            iequals(argv[i], "herdguard"))
            append = true;
    }
    if (!append) {
        forward(req, *p.target, false);
        return;
    }
    // Summed over every worker only when it is sent (INFO memory and the like go without it),
    // and taken before this command counts, as in the local case.
    std::string section = herdguard_info(worker_.server);
    stats_.commands_forwarded.add();
    last_target_ = p.target;
    auto& slot = new_slot();
    auto* wrap = new info_append(slot, std::move(section));
    if (req.is_inline) p.target->send_command(argv, wrap);
    else p.target->send(req.raw, wrap);
}

void session::handle_reset() {
    stats_.commands_local.add();
    // A fresh connection is the reset state. The run loop waited for every outstanding reply
    // before RESET (plan.barrier), so the private connection can go at once.
    if (private_) {
        private_->stop();
        if (last_target_ == private_.get()) last_target_ = nullptr;
        private_.reset();
    }
    name_.reset();
    lib_name_.reset();
    lib_ver_.reset();
    reply_mode_ = reply_mode::on;
    in_multi_ = false;
    db_default_ = true;
    authenticated_ = !cfg_.auth.enabled();  // RESET returns to the unauthenticated state
    reply_local("+RESET\r\n");
}

void session::handle_client(const resp::request& req, const plan& p) {
    const auto& argv = req.argv;
    auto sub = classify_client(argv);
    if (sub == client_subcommand::kill) {
        // CLIENT KILL addr | CLIENT KILL <filter value>...: never let it reach a shared connection.
        auto& reg = worker_.server.registry;
        if (argv.size() == 3 && reg.has_addr(std::string(argv[2]))) {
            stats_.commands_local.add();
            reply_local("-ERR herdguard: refusing to kill a redis connection shared by other clients\r\n");
            return;
        }
        for (std::size_t i = 2; argv.size() > 3 && i + 1 < argv.size(); i += 2) {
            auto key = argv[i];
            std::int64_t id = 0;
            bool hits_shared = (iequals(key, "id") && resp::parse_int64(argv[i + 1], id) && reg.has_id(id)) ||
                               (iequals(key, "addr") && reg.has_addr(std::string(argv[i + 1])));
            bool too_wide = iequals(key, "type") || iequals(key, "user") || iequals(key, "laddr") ||
                            iequals(key, "maxage");
            if (hits_shared || too_wide) {
                stats_.commands_local.add();
                reply_local(hits_shared
                                ? "-ERR herdguard: refusing to kill a redis connection shared by other clients\r\n"
                                : "-ERR herdguard: CLIENT KILL by TYPE, USER, LADDR or MAXAGE could disconnect "
                                  "connections shared by other clients; kill by ID or ADDR\r\n");
                return;
            }
        }
    }
    if (p.target != nullptr) {
        forward(req, *p.target, false);
        // Keep our copy of the name in step, for RESET and for CLIENT GETNAME after it.
        if (sub == client_subcommand::local_name && argv.size() == 3 && iequals(argv[1], "setname"))
            name_ = std::string(argv[2]);
        return;
    }
    stats_.commands_local.add();
    if (sub == client_subcommand::local_reply) {
        if (argv.size() != 3) {
            reply_local(wrong_arity("client|reply"));
        } else if (iequals(argv[2], "on")) {
            reply_mode_ = reply_mode::on;
            reply_local("+OK\r\n");
        } else if (iequals(argv[2], "off")) {
            reply_mode_ = reply_mode::off;
        } else if (iequals(argv[2], "skip")) {
            if (reply_mode_ == reply_mode::on) reply_mode_ = reply_mode::skip;
        } else {
            reply_local("-ERR syntax error\r\n");
        }
        return;
    }
    // SETNAME / GETNAME / SETINFO, kept here and replayed on a private connection if one opens.
    if (iequals(argv[1], "getname")) {
        if (argv.size() != 2) return reply_local(wrong_arity("client|getname"));
        std::string out;
        if (name_ && !name_->empty()) resp::append_bulk(out, *name_);
        else resp::append_null_bulk(out);
        reply_local(out);
    } else if (iequals(argv[1], "setname")) {
        if (argv.size() != 3) return reply_local(wrong_arity("client|setname"));
        for (char c : argv[2]) {
            if (c < '!' || c > '~') {
                return reply_local("-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
            }
        }
        name_ = std::string(argv[2]);
        reply_local("+OK\r\n");
    } else {  // SETINFO
        if (argv.size() != 4) return reply_local(wrong_arity("client|setinfo"));
        if (iequals(argv[2], "lib-name")) lib_name_ = std::string(argv[3]);
        else if (iequals(argv[2], "lib-ver")) lib_ver_ = std::string(argv[3]);
        else return reply_local("-ERR Unrecognized option '" + std::string(argv[2]) + "'\r\n");
        reply_local("+OK\r\n");
    }
}

void session::open_private() {
    stats_.private_connections.add();
    private_ = std::make_shared<redis_connection>(socket_.get_executor(), cfg_.redis,
                                                  redis_connection::mode::private_, stats_,
                                                  &worker_.server.registry, worker_.server.tls.redis.get());
    std::weak_ptr<session> weak = weak_from_this();
    private_->set_on_closed([weak](std::string_view) {
        if (auto s = weak.lock()) s->on_private_closed();
    });
    private_->start();
    // Replay what the client set while it was on the shared connection.
    if (name_) private_->send_command({"CLIENT", "SETNAME", *name_}, &discard_reply());
    if (lib_name_) private_->send_command({"CLIENT", "SETINFO", "LIB-NAME", *lib_name_}, &discard_reply());
    if (lib_ver_) private_->send_command({"CLIENT", "SETINFO", "LIB-VER", *lib_ver_}, &discard_reply());
}

void session::on_private_closed() {
    if (!private_) return;
    if (private_->was_connected()) {
        // Its MULTI, SELECT or subscriptions are gone: like Redis restarting under a direct
        // client, the client's connection ends (after the error replies already queued).
        closing_ = true;
        stop_reading();
    } else {
        // Never connected: no state was lost. The commands got "redis unavailable"; the client
        // stays on the shared connection.
        if (last_target_ == private_.get()) last_target_ = nullptr;
        private_.reset();
        relay_ = false;
    }
}

// ---------------------------------------------------------------------------------------------
// Replies: slots complete in any order, leave in request order.

bool session::take_suppress() {
    if (reply_mode_ == reply_mode::on) return false;
    if (reply_mode_ == reply_mode::skip) reply_mode_ = reply_mode::on;
    return true;
}

reply_queue::slot& session::new_slot() { return replies_.expect(take_suppress()); }

void session::reply_local(std::string_view bytes) { replies_.push_ready(bytes, take_suppress()); }

void session::append_out(std::string_view bytes) {
    if (closed_) return;
    if (out_.size() + wout_.size() + bytes.size() > cfg_.limits.client_output_buffer) {
        // As Redis: a client that does not read its replies is disconnected, not buffered forever.
        stats_.output_buffer_disconnects.add();
        if (std::uint64_t suppressed = 0; worker_.server.client_log.allow(suppressed))
            spdlog::warn("client disconnected: output buffer over limits.client_output_buffer ({} bytes) "
                         "({} similar lines suppressed)",
                         cfg_.limits.client_output_buffer, suppressed);
        out_.clear();
        close_now();
        return;
    }
    out_.append(bytes);
}

void session::flush_out() {
    if (writing_ || out_.empty() || closed_) return;
    writing_ = true;
    worker_.server.writes_in_flight.fetch_add(1, std::memory_order_relaxed);
    std::swap(out_, wout_);
    auto on_written = [self = shared_from_this()](const error_code& ec, std::size_t n) {
        self->writing_ = false;
        self->worker_.server.writes_in_flight.fetch_sub(1, std::memory_order_relaxed);
        self->stats_.bytes_out.add(n);
        self->wout_.clear();
        if (ec) {
            self->closing_ = true;
            self->close_now();
        } else {
            self->flush_out();
            if (self->close_after_write_ && !self->writing_) self->close_now();
        }
    };
    asio::async_write(socket_, asio::buffer(wout_),
                      asio::bind_allocator(handler_allocator<int>(write_memory_), std::move(on_written)));
}

void session::close_now() {
    if (closed_) return;
    closed_ = true;
    closing_ = true;
    error_code ignored;
    socket_.close(ignored);
    idle_timer_.cancel();
}

}  // namespace herdguard
