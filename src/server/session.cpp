#include "herdguard/server/session.h"
#include "herdguard/server/l1_writes.h"

#include <array>
#include <cstring>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "herdguard/server/herdguard_command.h"
#include "herdguard/server/local_commands.h"
#include "herdguard/resp/reply.h"
#include "herdguard/tls/tls_context.h"
#include "herdguard/upstream/cluster_plan.h"
#include "herdguard/util/clocks.h"
#include "herdguard/util/strings.h"

namespace herdguard {

namespace {

using boost::system::error_code;
constexpr std::size_t initial_read = 16 * 1024;
constexpr std::size_t side_limit = 64 * 1024;

resp::parser_limits limits_from(const config& cfg) {
    return {cfg.limits.max_request_bytes, cfg.limits.max_array_length, cfg.limits.max_inline_bytes};
}

}  // namespace

// The request as the client sent it; an inline one (or one whose argv herdguard rewrote) is
// encoded from argv by the connection, in RESP.
passthrough session::passthrough_of(const resp::request& req, bool no_timeout) {
    return {req.argv, req.is_inline ? std::string_view() : std::string_view(req.raw), no_timeout};
}

session::session(stream_socket socket, worker& w, asio::ssl::context* tls)
    : socket_(std::move(socket)),
      worker_(w),
      cfg_(w.server.cfg),
      stats_(w.stats),
      parser_(limits_from(w.server.cfg)),
      idle_timer_(socket_.get_executor()) {
    rbuf_.resize(initial_read);
    state_.authenticated = !cfg_.auth.enabled();
    state_.db = cfg_.redis.database;
    shared_now_ = &shared_for(state_.protocol);
    if (tls) socket_.enable_tls(*tls);
}

session::~session() {
    if (entry_) worker_.server.clients.remove(entry_->fixed.id);
    drop_private();  // its push sink points at us
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
    register_client();
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
    entry_->last_active.store(steady_ns(last_activity_), std::memory_order_relaxed);
    if (resume_ != step::none) {
        // Still waiting for answers: keep the bytes for later, and keep watching a blocked client
        // for a hang-up while the pipelined bytes stay bounded. Once the answers are in, these
        // requests must run before the next read: the client may be waiting for their replies
        // and send nothing more (the ioredis hang of issue 11).
        if (resume_ == step::after_batch) resume_ = step::process;
        if (watch_while_waiting()) do_read();
        return;
    }
    const event_clock::scope requests_read(last_activity_);  // what the handlers stamp (util/clocks.h)
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
        const command_kind kind = classify(req.argv);
        if (auth_gate(req, kind)) {  // answered: AUTH, or -NOAUTH before authentication
            rstart_ += consumed;
            stats_.commands.add();
            continue;
        }
        if (state_.relay) {
            rstart_ += consumed;
            stats_.commands.add();
            relay(req);
            continue;
        }
        // Order across connections: before a command runs on another connection than the one
        // still answering (or on a private one still to open), wait for those answers; then parse
        // and plan it again. Planning has no side effects, so planning twice is harmless.
        const command_plan p = plan_command(req.argv, kind, state_, planning());
        const routed_keys routed = find_routes(req, p);
        const bool switches = !p.local && ((p.open_private && !private_) || target_of(p, routed) != last_target_);
        if (replies_.outstanding() > 0 && (p.barrier || switches || protocol_pending_)) {
            wait_then(step::process);
            return;
        }
        rstart_ += consumed;
        stats_.commands.add();
        if (worker_.hot.tick()) worker_.hot.sample(req.argv);  // hot-key detection (stats/hot_keys.h)
        execute(req, p, routed);
        // What CLIENT LIST shows changes only with these (never on the GET/SET path).
        if (kind == command_kind::client || kind == command_kind::select || kind == command_kind::reset ||
            kind == command_kind::relay || p.transaction != transaction_effect::none)
            note_identity();
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
            flush_out();  // the replies already in go out now, not after the requests still to run
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
        bool exempt = state_.relay || replies_.outstanding() > 0;
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

planning_context session::planning() const {
    return {private_ != nullptr, !worker_.server.herd.empty(), cfg_.redis.database, cfg_.redis.cluster.enabled()};
}

session::routed_keys session::find_routes(const resp::request& req, const command_plan& p) const {
    routed_keys routed;
    const auto& herd = worker_.server.herd;
    const auto& argv = req.argv;
    if (p.reads == read_through::get) {
        routed.route = herd.find_route(argv[1]);
    } else if (p.reads == read_through::mget) {
        for (std::size_t i = 1; i < argv.size() && !routed.mget; ++i) routed.mget = herd.find_route(argv[i]) != nullptr;
    }
    return routed;
}

// A client with a private connection uses it for everything it sends to Redis, except the
// read-through path, whose reads belong on the shared connection (the ordering rule in
// process() first drains the private one). nullptr: answered locally.
backend* session::target_of(const command_plan& p, const routed_keys& routed) {
    if (p.local) return nullptr;
    if (private_ && !routed.any()) return private_.get();
    // HELLO 2/3 goes where the client's replies will come from: a connection of that protocol.
    return p.hello_protocol != 0 ? &shared_for(p.hello_protocol) : shared_now_;
}

void session::speak(int protocol) {
    state_.protocol = protocol;
    shared_now_ = &shared_for(protocol);
}

backend& session::shared_for(int protocol) {
    backend*& b = shared_[protocol == 3 ? 1 : 0];
    if (b == nullptr) b = &worker_.session_backend(protocol);
    return *b;
}

void session::execute(const resp::request& req, const command_plan& p, const routed_keys& routed) {
    if (p.open_private && !private_) open_private();
    backend* target = target_of(p, routed);
    const auto& argv = req.argv;
    switch (p.kind) {
        case command_kind::relay:
            relay(req);
            return;
        case command_kind::ping:
        case command_kind::echo:
            if (!p.local) break;
            stats_.commands_local.add();
            reply_local(answer_ping_echo(argv, p.kind));
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
            if (p.local) {
                stats_.commands_local.add();
                reply_local(answer_hello(argv));
                return;
            }
            if (p.hello_protocol != 0) return handle_hello(req, p, target);
            break;
        case command_kind::cluster_only:
            if (!p.local) break;
            stats_.commands_local.add();
            reply_local("-ERR This instance has cluster support disabled\r\n");
            return;
        case command_kind::unsubscribe:
            if (!p.local) break;
            stats_.commands_local.add();
            reply_local(answer_unsubscribe(argv, state_.protocol));
            return;
        case command_kind::select:
            if (!p.local) {
                note_select(argv, cfg_.redis.database, state_);
                break;
            }
            stats_.commands_local.add();
            if (cfg_.redis.cluster.enabled()) {
                reply_local(plan_cluster_command(argv).local_reply);
                return;
            }
            state_.db_default = true;
            reply_local("+OK\r\n");
            return;
        case command_kind::client:
            handle_client(req, p, target);
            return;
        case command_kind::info:
            handle_info(req, p, target);
            return;
        case command_kind::herdguard:
            stats_.commands_local.add();
            reply_local(herdguard_command(argv, worker_.server, state_.protocol));
            return;
        case command_kind::forward:
            if (routed.route != nullptr) return herd_get(req, *routed.route);
            if (routed.mget) return herd_mget(req);
            break;
        case command_kind::needs_private:
            break;
    }
    forward(req, *target, p);
}

// Stale-set protection (herd/lease_scripts.h): a write that takes a routed key's value away or
// changes only its TTL revokes the key's lease before the write runs, on the shared connection, so
// a load that started earlier can never overwrite what the client did; a write that gives the key
// a value needs no revoke (the load's write-back sees the new value and gives way), only the
// worker's fresh memo forgets the key. `drop_l1`: drop the keys from L1 now too (relay mode, which
// has no reply slot to fence; a forwarded write's keys are fenced and dropped by
// l1_read_your_writes).
void session::revoke_written_keys(const std::vector<std::string_view>& argv, bool drop_l1) {
    auto& herd = worker_.server.herd;
    if (herd.empty() || argv.size() < 2) return;
    const write_spec spec = written_keys_of(argv[0]);
    for_each_key_at(argv, spec.keys, [&](std::string_view key) {
        auto* route = herd.find_route(key);
        if (route == nullptr) return;
        if (spec.sets_value) herd.forget_fresh(*route, key, worker_.herd);
        else herd.revoke(*route, key, worker_.herd, *shared_now_);
        if (drop_l1 && route->l1) herd.l1_invalidate(key);
    });
}

void session::forward(const resp::request& req, backend& to, const command_plan& p) {
    stats_.commands_forwarded.add();
    const auto& argv = req.argv;
    auto& herd = worker_.server.herd;
    revoke_written_keys(argv);
    auto& slot = new_slot();
    // Behind a blocking command, the replies before it go out now (as Redis sends them), not
    // when the whole batch is answered.
    if (p.no_timeout) replies_.mark_blocking(slot);
    reply_handler* handler = &slot;
    if (herd.l1_configured()) handler = l1_read_your_writes(argv, p, *handler);
    if (p.transaction == transaction_effect::begins) state_.in_multi = true;
    else if (p.transaction == transaction_effect::ends) state_.in_multi = false;
    last_target_ = &to;
    to.pass(passthrough_of(req, p.no_timeout), handler);
}

namespace {

// Drops a write's keys from L1 (or empties it) when the write's reply arrives, before the client
// can see the reply. At that point Redis has run the write, so a read reserved later reads the new
// value; a fill reserved earlier may hold the old one, and this voids it (l1_cache.h).
class l1_after_write final : public reply_handler {
public:
    // Fences the keys (or all of L1) from now: a read pipelined behind the write on this
    // connection must not be served the old value by a fill another read made meanwhile.
    l1_after_write(herd_engine& herd, std::vector<std::string> keys, bool flush, reply_handler& inner)
        : herd_(herd), keys_(std::move(keys)), flush_(flush), inner_(inner) {
        if (flush_) herd_.l1_fence_all(true);
        for (const auto& k : keys_) herd_.l1_fence(k);
    }
    void on_reply(std::string_view raw) override {
        apply();
        auto& inner = inner_;
        delete this;
        inner.on_reply(raw);
    }
    void on_failure(std::string_view raw) override {
        apply();  // it may have run before the connection broke
        auto& inner = inner_;
        delete this;
        inner.on_failure(raw);
    }

private:
    void apply() {  // the write has run: drop the keys again, and lift the fences
        if (flush_) herd_.l1_fence_all(false);
        for (const auto& k : keys_) herd_.l1_unfence(k);
    }
    herd_engine& herd_;
    std::vector<std::string> keys_;
    bool flush_;
    reply_handler& inner_;
};

}  // namespace

// L1's read-your-writes (server/l1_writes.h): the effect is applied when the reply arrives.
reply_handler* session::l1_read_your_writes(const std::vector<std::string_view>& argv, const command_plan& p,
                                            reply_handler& slot) {
    auto& herd = worker_.server.herd;
    auto effect = l1_writes_.on_command(argv, p.transaction, state_.in_multi, [&](std::string_view key) {
        auto* r = herd.find_route(key);
        return r != nullptr && r->l1 != nullptr;
    });
    if (effect.empty()) return &slot;
    return new l1_after_write(herd, std::move(effect.keys), effect.flush, slot);
}

void session::relay(const resp::request& req) {
    // Stale-set protection and L1 here too: a subscribed RESP3 client (or one relayed since
    // SUBSCRIBE + RESET) may write. Its replies stream without a slot, so L1 drops the keys when
    // the write is sent, and Redis's invalidation push covers the rest.
    revoke_written_keys(req.argv, /*drop_l1=*/true);
    // Pushes and replies now stream straight from the private connection to the client; Redis
    // enforces what is allowed in subscribed mode, and answers in order on its one connection.
    // RESET goes to Redis here, which takes the connection back to RESP2 (and out of its
    // subscriptions); the stream stays relayed, so its replies stay Redis's own.
    if (iequals(req.argv[0], "reset")) speak(2);
    if (!state_.relay) {
        state_.relay = true;
        last_target_ = private_.get();
        stream_pushes();
    }
    stats_.commands_forwarded.add();
    private_->pass(passthrough_of(req, true), nullptr);
}

// ---------------------------------------------------------------------------------------------
// Replies: slots complete in any order, leave in request order.

reply_queue::slot& session::new_slot() { return replies_.expect(state_.take_suppress()); }

void session::reply_local(std::string_view bytes) { replies_.push_ready(bytes, state_.take_suppress()); }

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
