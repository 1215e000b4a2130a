#include "herdguard/upstream/redis_connection.h"
#include "herdguard/util/clocks.h"

#include <algorithm>
#include <cstring>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_view.h"
#include "herdguard/upstream/handshake.h"
#include "herdguard/resp/request_parser.h"
#include "herdguard/tls/tls_context.h"
#include "herdguard/util/random.h"

namespace herdguard {

namespace {

using clock = std::chrono::steady_clock;
using boost::system::error_code;
constexpr std::size_t read_chunk = 64 * 1024;
constexpr auto backoff_initial = std::chrono::milliseconds(50);
constexpr auto backoff_max = std::chrono::milliseconds(1000);

std::chrono::milliseconds jittered(std::chrono::milliseconds base) {
    // +-25%: reconnects of many proxies after a Redis restart do not arrive in lock-step.
    const double f = 0.75 + 0.5 * thread_uniform01();
    return std::chrono::milliseconds(static_cast<long>(static_cast<double>(base.count()) * f));
}

}  // namespace

redis_connection::redis_connection(asio::any_io_executor ex, const redis_config& cfg, mode m,
                                   worker_stats& stats, shared_connection_registry* registry,
                                   asio::ssl::context* tls, bool resp3)
    : ex_(ex),
      cfg_(cfg),
      mode_(m),
      resp3_(resp3),
      stats_(stats),
      registry_(registry),
      transport_(ex, cfg_, tls),
      backoff_timer_(ex),
      pipeline_(cfg.max_pending) {
    rbuf_.resize(read_chunk);
}

redis_connection::~redis_connection() = default;

void redis_connection::start() {
    asio::co_spawn(ex_, [self = shared_from_this()]() { return self->run(); }, asio::detached);
}

void redis_connection::id_probe::on_reply(std::string_view raw) {
    if (auto id = resp::reply_view(raw).integer()) {
        self->client_id_ = *id;
        if (self->registry_ != nullptr) self->registry_->add_own(*id);
    }
}

void redis_connection::stop() {
    if (stopped_) return;
    stopped_ = true;
    push_sink_ = nullptr;
    on_closed_ = nullptr;
    transport_.stop();
    backoff_timer_.cancel();
    state_ = state::closed;
    up_.store(false, std::memory_order_relaxed);
    // Its owner let it go (the client left, RESET, shutdown): what still waits has nobody to
    // answer, which is not Redis being unavailable.
    fail_all("connection closed", stats_.client_gone_replies);
}

std::string redis_connection::unavailable_reply(const std::string& reason) const {
    return resp::error_reply("ERR herdguard: redis unavailable (" + reason + ")");
}

// Queues the handler for the next reply, or answers it at once when the request cannot go.
bool redis_connection::admit(reply_handler* handler, bool no_timeout) {
    if (state_ == state::down || state_ == state::closed) {
        if (handler != nullptr) {
            stats_.redis_unavailable_replies.add();
            handler->on_failure(unavailable_reply(last_error_));
        }
        return false;
    }
    if (pipeline_.full()) {
        if (handler != nullptr) {
            stats_.redis_queue_full.add();
            handler->on_failure(resp::error_reply("ERR herdguard: redis queue full (" +
                                                  std::to_string(pipeline_.size()) + " pending)"));
        }
        return false;
    }
    if (handler != nullptr)
        pipeline_.expect(handler,
                         no_timeout ? clock::time_point::max() : event_clock::now() + cfg_.command_timeout);
    return true;
}

void redis_connection::send(std::string_view request, reply_handler* handler, bool no_timeout) {
    if (!admit(handler, no_timeout)) return;
    wbuf_.append(request);
    schedule_flush();
}

void redis_connection::send_command(std::span<const std::string_view> argv, reply_handler* handler,
                                    bool no_timeout) {
    if (!admit(handler, no_timeout)) return;
    resp::append_command(wbuf_, argv);
    schedule_flush();
}

void redis_connection::schedule_flush() {
    // Posting (instead of writing now) lets every session that runs in this event-loop turn add
    // its requests first: one write to Redis carries them all.
    if (flush_posted_ || writing_ || state_ != state::ready) return;
    flush_posted_ = true;
    asio::post(ex_, asio::bind_allocator(handler_allocator<int>(flush_memory_), [self = shared_from_this()] {
                   self->flush_posted_ = false;
                   self->do_write();
               }));
}

void redis_connection::do_write() {
    if (writing_ || wbuf_.empty() || state_ != state::ready) return;
    writing_ = true;
    std::swap(wbuf_, inflight_);
    auto on_written = [self = shared_from_this()](const error_code& ec, std::size_t) {
        self->writing_ = false;
        self->inflight_.clear();
        if (ec) {
            self->drop("write failed: " + ec.message());
            return;
        }
        self->do_write();
    };
    asio::async_write(transport_.stream(), asio::buffer(inflight_),
                      asio::bind_allocator(handler_allocator<int>(write_memory_), std::move(on_written)));
}

void redis_connection::drop(std::string reason) {
    if (drop_reason_.empty()) drop_reason_ = std::move(reason);
    transport_.close();
}

void redis_connection::fail_all(const std::string& reason, relaxed_counter& counted_as) {
    last_error_ = reason;
    wbuf_.clear();
    // Handlers may queue new requests (or stop us) from inside on_failure: take the list first.
    auto failed = pipeline_.take_all();
    if (!failed.empty()) {
        std::string reply = unavailable_reply(reason);
        for (auto& p : failed) {
            if (p.handler != &id_probe_) counted_as.add();  // herdguard's own, not a client's
            p.handler->on_failure(reply);
        }
    }
}

asio::awaitable<void> redis_connection::run() {
    auto self = shared_from_this();
    auto backoff = backoff_initial;
    while (!stopped_) {
        state_ = state::connecting;
        drop_reason_.clear();
        pipeline_.reset_framing();
        handshake_framer_.reset();
        rstart_ = rend_ = 0;
        std::string reason = co_await connect_and_handshake();
        if (stopped_) co_return;
        if (reason.empty()) {
            stats_.redis_connects.add();
            reported_down_ = false;
            if (mode_ == mode::shared) {
                spdlog::info("redis {}: connected (client id {}{})", cfg_.addr.to_string(), client_id_, resp3_ ? ", RESP3" : "");
                if (registry_ != nullptr) {
                    registry_->add(client_id_, local_addr_);
                    registry_->add_own(client_id_);
                }
            }
            if (mode_ == mode::private_) {
                // Ahead of what the client queued meanwhile (a MULTI, say), so it is no part of it.
                id_probe_.self = this;
                pipeline_.expect_first(&id_probe_, clock::now() + cfg_.command_timeout);
                wbuf_.insert(0, "*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n");
            }
            state_ = state::ready;
            up_.store(true, std::memory_order_relaxed);
            was_connected_ = true;
            ++generation_;
            backoff = backoff_initial;
            do_write();  // requests queued while connecting
            asio::co_spawn(ex_, [self, gen = generation_]() { return self->watchdog(gen); }, asio::detached);
            reason = co_await read_loop();
            up_.store(false, std::memory_order_relaxed);
            if (registry_ != nullptr) registry_->remove_own(client_id_);
            if (mode_ == mode::shared && registry_ != nullptr) registry_->remove(client_id_, local_addr_);
            if (mode_ == mode::shared && !stopped_)
                spdlog::warn("redis {}: connection lost ({})", cfg_.addr.to_string(), reason);
        } else {
            stats_.redis_connect_failures.add();
            // One line when Redis goes away, then a reminder every 10 s, not one per retry.
            std::uint64_t suppressed = 0;
            if (mode_ == mode::shared && (!reported_down_ || down_log_.allow(suppressed))) {
                spdlog::warn("redis {}: connect failed ({}){}", cfg_.addr.to_string(), reason,
                             reported_down_ ? fmt::format(", {} retries since the last report", suppressed) : "");
                if (!reported_down_) down_log_.allow(suppressed);  // start the reminder interval
                reported_down_ = true;
            }
        }
        if (stopped_) co_return;
        transport_.close();
        if (mode_ == mode::private_) {
            state_ = state::closed;
            fail_all(reason, stats_.redis_unavailable_replies);
            auto cb = std::move(on_closed_);
            if (cb) cb(reason);
            co_return;
        }
        state_ = state::down;
        fail_all(reason, stats_.redis_unavailable_replies);
        backoff_timer_.expires_after(jittered(backoff));
        error_code ec;
        co_await backoff_timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        backoff = std::min(backoff * 2, backoff_max);
    }
}

// One deadline covers resolve, connect, TLS and the handshake; on expiry the socket is closed,
// which makes whichever operation is pending complete with an error.
asio::awaitable<std::string> redis_connection::connect_and_handshake() {
    auto self = shared_from_this();
    // The flags outlive this frame: a timer that fired just as we finished must not touch them.
    auto attempt = std::make_shared<redis_transport::attempt>();
    asio::steady_timer deadline(ex_);
    deadline.expires_after(cfg_.connect_timeout);
    deadline.async_wait([self, attempt](const error_code& ec) {
        if (ec || attempt->done) return;
        attempt->timed_out = true;
        self->transport_.close();
    });
    struct finish_on_exit {
        asio::steady_timer& t;
        redis_transport::attempt& a;
        ~finish_on_exit() {
            a.done = true;
            t.cancel();
        }
    } guard{deadline, *attempt};

    std::string why = co_await transport_.connect(*attempt);
    if (why.empty()) why = co_await run_handshake(*attempt);
    // A shared connection's address, for the CLIENT KILL policy (client_kill.h).
    if (why.empty() && mode_ == mode::shared) local_addr_ = transport_.local_address();
    co_return why;
}

// The handshake (upstream/handshake.h): AUTH and SELECT as configured; shared connections also
// learn their client id so CLIENT KILL from a client can be refused when it targets them.
asio::awaitable<std::string> redis_connection::run_handshake(const redis_transport::attempt& attempt) {
    const handshake_plan hello = plan_handshake(cfg_, mode_ == mode::shared, resp3_);
    const int replies = hello.replies;
    if (replies == 0) co_return "";
    error_code ec;
    co_await asio::async_write(transport_.stream(), asio::buffer(hello.bytes), asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return attempt.timed_out ? transport_.timeout_text() : "handshake write: " + ec.message();

    for (int i = 0; i < replies; ++i) {
        std::size_t length = 0;
        while (true) {
            auto st = handshake_framer_.feed(std::string_view(rbuf_.data() + rstart_, rend_ - rstart_), length);
            if (st == resp::frame_status::complete) break;
            if (st == resp::frame_status::error) co_return "bad handshake reply: " + handshake_framer_.error();
            if (rend_ == rbuf_.size()) co_return "handshake reply too large";
            std::size_t n = co_await transport_.stream().async_read_some(
                asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_),
                asio::redirect_error(asio::use_awaitable, ec));
            if (ec) co_return attempt.timed_out ? transport_.timeout_text() : "handshake read: " + ec.message();
            rend_ += n;
        }
        std::string_view reply(rbuf_.data() + rstart_, length);
        rstart_ += length;
        const bool is_client_id = hello.ends_with_client_id && i == replies - 1;
        if (std::string why = read_handshake_reply(reply, is_client_id, client_id_); !why.empty()) co_return why;
    }
    co_return "";
}

asio::awaitable<std::string> redis_connection::read_loop() {
    auto self = shared_from_this();
    while (true) {
        if (!deliver_replies()) {
            // The commands in flight on it fail ("redis unavailable (bad reply ...)") and the
            // connection is replaced: past bytes that are no reply, nothing after them can be
            // matched to a request, and a guess could hand one client another's reply.
            stats_.redis_bad_replies.add();
            const std::string& why = pipeline_.framing_error();
            drop("bad reply from redis: " + (why.empty() ? std::string("a reply to no request") : why));
            co_return drop_reason_;
        }
        if (rstart_ == rend_ && rbuf_.size() > 4 * read_chunk) {
            rbuf_.resize(read_chunk);  // a huge reply has passed: give the memory back
            rbuf_.shrink_to_fit();
            rstart_ = rend_ = 0;
        }
        // Make room: move the unfinished reply to the front, or grow for a large one.
        if (rstart_ > 0 && (rend_ == rbuf_.size() || rstart_ > rbuf_.size() / 2)) {
            std::memmove(rbuf_.data(), rbuf_.data() + rstart_, rend_ - rstart_);
            rend_ -= rstart_;
            rstart_ = 0;
        }
        if (rend_ == rbuf_.size()) rbuf_.resize(rbuf_.size() * 2);
        error_code ec;
        std::size_t n = co_await transport_.stream().async_read_some(asio::buffer(rbuf_.data() + rend_, rbuf_.size() - rend_),
                                                         asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (!drop_reason_.empty()) co_return drop_reason_;
            // Over TLS, a peer that closes without close_notify (Redis does not send one) reads
            // as a truncated stream: the same event as EOF on plain TCP.
            bool closed = ec == asio::error::eof || is_tls_truncation(ec);
            co_return closed ? std::string("connection closed by redis") : ec.message();
        }
        rend_ += n;
    }
}

// The pipeline frames and hands out what rbuf_ holds; false when Redis sent bad data or a reply
// nobody asked for.
bool redis_connection::deliver_replies() {
    const event_clock::scope replies_read(clock::now());  // what the handlers stamp (util/clocks.h)
    std::size_t consumed = 0;
    const auto dropped = pipeline_.pushes_dropped();
    const auto result = pipeline_.deliver(std::string_view(rbuf_.data() + rstart_, rend_ - rstart_), consumed,
                                          push_sink_, stopped_);
    if (pipeline_.pushes_dropped() != dropped) stats_.redis_pushes_dropped.add(pipeline_.pushes_dropped() - dropped);
    rstart_ += consumed;
    if (rstart_ == rend_) rstart_ = rend_ = 0;
    return result == reply_pipeline::delivery::ok;
}

asio::awaitable<void> redis_connection::watchdog(std::uint64_t generation) {
    auto self = shared_from_this();
    // Checking the oldest request is enough: Redis answers in order, so if it is late, all are.
    auto tick = std::max<std::chrono::milliseconds>(cfg_.command_timeout / 10, std::chrono::milliseconds(5));
    asio::steady_timer timer(ex_);
    auto alive = [&] { return state_ == state::ready && !stopped_ && generation_ == generation; };
    while (alive()) {
        timer.expires_after(tick);
        error_code ec;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (!alive()) break;
        if (pipeline_.overdue(clock::now())) {
            stats_.redis_timeouts.add();
            drop("timeout after " + std::to_string(cfg_.command_timeout.count()) + "ms");
            break;
        }
    }
}

}  // namespace herdguard
