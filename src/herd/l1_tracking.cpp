#include "herdguard/herd/l1_tracking.h"

#include <algorithm>

#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include "herdguard/resp/reply_value.h"
#include "herdguard/resp/reply_view.h"
#include "herdguard/util/random.h"

namespace herdguard {

namespace asio = boost::asio;

namespace {

constexpr std::chrono::milliseconds backoff_initial{50};
constexpr std::chrono::milliseconds backoff_max{1000};
constexpr std::chrono::milliseconds refused_backoff{30000};

// A reply handler that calls `fn` once with the reply (or the failure) and deletes itself.
struct callback_reply final : reply_handler {
    explicit callback_reply(std::function<void(std::string_view, bool)> f) : fn(std::move(f)) {}
    std::function<void(std::string_view, bool)> fn;
    void on_reply(std::string_view raw) override { done(raw, false); }
    void on_failure(std::string_view raw) override { done(raw, true); }
    void done(std::string_view raw, bool failed) {
        auto f = std::move(fn);
        delete this;
        f(raw, failed);
    }
};

}  // namespace

l1_tracking::l1_tracking(asio::any_io_executor ex, herd_engine& herd, link_factory open_link)
    : ex_(ex), herd_(herd), open_link_(std::move(open_link)), timer_(ex), deadline_(ex) {
    canary_prefix_ = "herdguard:l1-canary:" + std::to_string(thread_random()) + ":";
}

std::vector<std::string> l1_tracking::tracking_command(const std::vector<std::string>& prefixes,
                                                       const std::string& canary_prefix) {
    std::vector<std::string> argv{"CLIENT", "TRACKING", "ON", "BCAST"};
    // An empty prefix (a route whose pattern starts with a wildcard) means every key: no PREFIX.
    if (std::find(prefixes.begin(), prefixes.end(), "") != prefixes.end()) return argv;
    bool canary_covered = canary_prefix.empty();
    for (const auto& p : prefixes) {
        argv.emplace_back("PREFIX");
        argv.push_back(p);
        canary_covered = canary_covered || canary_prefix.starts_with(p);
    }
    if (!canary_covered) {
        argv.emplace_back("PREFIX");
        argv.push_back(canary_prefix);
    }
    return argv;
}

void l1_tracking::start() {
    asio::post(ex_, [self = shared_from_this()] {
        self->started_ = true;
        self->connect();
    });
}

void l1_tracking::stop() {
    asio::post(ex_, [self = shared_from_this()] {
        self->stopped_ = true;
        ++self->gen_;
        self->timer_.cancel();
        self->deadline_.cancel();
        if (self->link_) self->link_->stop();
        self->link_.reset();
        self->herd_.l1_set_active(false);
    });
}

void l1_tracking::routes_changed() {
    asio::post(ex_, [self = shared_from_this()] {
        if (self->stopped_ || !self->started_) return;  // start() reads the routes itself
        const bool configured = self->herd_.l1_configured();
        if (configured && self->link_ && self->herd_.l1_prefixes() == self->prefixes_) return;
        if (!configured && !self->link_) return;
        self->up_ = false;  // a new start, not a loss: tracking_lost does not count it
        self->lost(self->gen_, "the routes with l1 changed");
    });
}

void l1_tracking::connect() {
    if (stopped_) return;
    if (link_) {  // never two tracking connections at once
        link_->set_on_closed(nullptr);
        link_->set_push_sink(nullptr);
        link_->stop();
        link_.reset();
    }
    const std::uint64_t gen = ++gen_;
    if (!herd_.l1_configured()) {  // nothing to keep coherent (until a reload adds L1)
        herd_.l1_set_active(false);
        return;
    }
    prefixes_ = herd_.l1_prefixes();
    link_ = open_link_();
    std::weak_ptr<l1_tracking> weak = weak_from_this();
    link_->set_push_sink([weak](std::string_view raw) {
        if (auto self = weak.lock()) self->on_push(raw);
    });
    link_->set_on_closed([weak, gen](std::string_view reason) {
        if (auto self = weak.lock()) self->lost(gen, reason);
    });
    link_->start();
    const std::string_view setname[] = {"CLIENT", "SETNAME", client_name};
    link_->request("", setname, &discard_reply());
    const auto command = tracking_command(prefixes_, canary_prefix_);
    std::vector<std::string_view> argv(command.begin(), command.end());
    link_->request("", argv, new callback_reply([weak, gen](std::string_view raw, bool failed) {
                       auto self = weak.lock();
                       if (!self) return;
                       const auto reply = resp::decode_reply(raw);
                       // A connection that failed (Redis restarting) is retried at the usual
                       // pace; only Redis's own refusal waits refused_backoff.
                       if (failed) self->lost(gen, reply.str);
                       else if (reply.is_error()) self->lost(gen, "CLIENT TRACKING refused: " + reply.str);
                       else self->established(gen);
                   }));
}

void l1_tracking::established(std::uint64_t gen) {
    if (gen != gen_ || stopped_) return;
    if (herd_.l1_prefixes() != prefixes_) {  // a SIGHUP changed them while this one connected
        up_ = false;
        lost(gen, "the routes with l1 changed while connecting");
        return;
    }
    // The canary: our own write must come back as a push before L1 trusts this connection.
    canary_key_ = canary_prefix_ + std::to_string(gen);
    std::weak_ptr<l1_tracking> weak = weak_from_this();
    const std::string_view set[] = {"SET", canary_key_, "1", "PX", "1000"};  // the push is what counts
    link_->request(canary_key_, set, new callback_reply([weak, gen](std::string_view raw, bool failed) {
                       auto self = weak.lock();
                       if (!self) return;
                       const auto reply = resp::decode_reply(raw);
                       if (failed) self->lost(gen, reply.str);
                       else if (reply.is_error()) self->lost(gen, "canary write refused: " + reply.str);
                   }));
    deadline_.expires_after(ping_deadline);
    deadline_.async_wait([weak, gen](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || gen != self->gen_ || self->up_) return;
        self->lost(gen, "no invalidation push for the canary write within " + std::to_string(ping_deadline.count()) +
                            " ms");
    });
}

void l1_tracking::confirmed(std::uint64_t gen) {
    if (gen != gen_ || stopped_ || up_) return;
    deadline_.cancel();
    up_ = true;
    backoff_ = backoff_initial;
    herd_.l1_set_active(true);
    spdlog::info("L1 on: CLIENT TRACKING (BCAST) is up for {} prefix{}, pushes arrive", prefixes_.size(),
                 prefixes_.size() == 1 ? "" : "es");
    schedule_ping(gen);
}

// Every ping_every, a PING that must come back within ping_deadline. The replies come in order
// after any invalidation Redis queued before them, so a PONG also says those have arrived.
void l1_tracking::schedule_ping(std::uint64_t gen) {
    timer_.expires_after(ping_every);
    timer_.async_wait([weak = weak_from_this(), gen](const boost::system::error_code& ec) {
        auto self = weak.lock();
        if (ec || !self || gen != self->gen_ || self->stopped_) return;
        auto answered = std::make_shared<bool>(false);
        self->deadline_.expires_after(ping_deadline);
        self->deadline_.async_wait([weak, gen, answered](const boost::system::error_code& e) {
            auto s = weak.lock();
            if (e || !s || *answered) return;
            s->lost(gen, "PING not answered within " + std::to_string(ping_deadline.count()) + " ms");
        });
        self->link_->request("", {"PING"}, new callback_reply([weak, gen, answered](std::string_view raw, bool failed) {
                                 auto s = weak.lock();
                                 if (!s || gen != s->gen_) return;
                                 *answered = true;
                                 s->deadline_.cancel();
                                 if (failed || resp::decode_reply(raw).is_error()) {
                                     s->lost(gen, "PING failed: " + std::string(raw.substr(0, 80)));
                                     return;
                                 }
                                 s->schedule_ping(gen);
                             }));
    });
}

void l1_tracking::lost(std::uint64_t gen, std::string_view reason) {
    if (gen != gen_ || stopped_) return;
    ++gen_;  // every callback of this link is stale from here on
    const bool was_up = up_;
    up_ = false;
    herd_.l1_set_active(false);  // off and empty before anything else can read it
    if (was_up) herd_.l1_stats().tracking_lost.fetch_add(1, std::memory_order_relaxed);
    if (std::uint64_t suppressed = 0; log_.allow(suppressed))
        spdlog::warn("L1 off: tracking connection {}: {} ({} similar lines suppressed)", was_up ? "lost" : "failed",
                     reason, suppressed);
    timer_.cancel();
    deadline_.cancel();
    if (link_) {
        link_->set_on_closed(nullptr);
        link_->set_push_sink(nullptr);
        link_->stop();
        link_.reset();
    }
    // +-25% jitter: many sidecars do not reconnect to a restarted Redis in lock-step. A refusal
    // (no RESP3, CLIENT TRACKING or the canary write denied, a server that never pushes) will not
    // go away soon: ask again every 30 s, not every second.
    const bool refused = reason.find("handshake refused") != std::string_view::npos ||  // not "connection refused"
                         reason.find("CLIENT TRACKING refused") != std::string_view::npos ||
                         reason.find("canary write refused") != std::string_view::npos ||
                         reason.find("no invalidation push") != std::string_view::npos;
    const auto base = refused ? refused_backoff : backoff_;
    const auto wait = std::chrono::milliseconds(
        static_cast<long>(static_cast<double>(base.count()) * (0.75 + 0.5 * thread_uniform01())));
    backoff_ = std::min(backoff_ * 2, backoff_max);
    timer_.expires_after(wait);
    // The generation after this loss: a reconnect already queued by an earlier one (its timer
    // fired before cancel() could stop it) is stale and does nothing.
    timer_.async_wait([weak = weak_from_this(), gen = gen_](const boost::system::error_code& ec) {
        if (auto self = weak.lock(); self && !ec && gen == self->gen_) self->connect();
    });
}

// `>2 invalidate [keys]`, or `>2 invalidate <null>` after FLUSHALL / FLUSHDB.
namespace {

// One "<type><number>\r\n" header at `at` (an aggregate's count, a bulk's length); advances past it.
bool read_header(std::string_view raw, std::size_t& at, char type, std::int64_t& n) {
    if (at >= raw.size() || raw[at] != type) return false;
    const std::string_view line = resp::reply_view(raw.substr(at)).line();
    const std::size_t next = at + 1 + line.size() + 2;
    if (next > raw.size() || raw.compare(next - 2, 2, "\r\n") != 0 || !resp::parse_int64(line, n)) return false;
    at = next;
    return true;
}

// One bulk string at `at`; advances past it. reply_view reads it; the end is checked here, as
// the view sees only where the reply starts.
bool read_bulk(std::string_view raw, std::size_t& at, std::string_view& out) {
    const resp::reply_view v(raw.substr(at));
    if (v.type() != resp::reply_type::bulk) return false;
    const auto body = v.bulk();
    if (!body) return false;
    const std::size_t end = static_cast<std::size_t>(body->data() - raw.data()) + body->size();
    if (raw.size() - end < 2 || raw.compare(end, 2, "\r\n") != 0) return false;
    out = *body;
    at = end + 2;
    return true;
}

}  // namespace

bool l1_tracking::read_invalidation(std::string_view raw, std::vector<std::string_view>& keys, bool& all) {
    keys.clear();
    all = false;
    std::size_t at = 0;
    std::int64_t n = 0;
    std::string_view word;
    if (!(read_header(raw, at, '>', n) || read_header(raw, at, '*', n)) || n != 2) return false;
    if (!read_bulk(raw, at, word) || word != "invalidate") return false;
    if (raw.substr(at) == "_\r\n" || raw.substr(at) == "*-1\r\n") {
        all = true;
        return true;
    }
    if (!read_header(raw, at, '*', n) || n < 0) return false;
    for (std::int64_t i = 0; i < n; ++i) {
        if (!read_bulk(raw, at, word)) return false;
        keys.push_back(word);
    }
    return at == raw.size();
}

void l1_tracking::on_push(std::string_view raw) {
    thread_local std::vector<std::string_view> keys;
    bool all = false;
    if (read_invalidation(raw, keys, all)) {
        herd_.l1_stats().invalidation_messages.fetch_add(1, std::memory_order_relaxed);
        if (all) {
            herd_.l1_flush();
            return;
        }
        for (auto k : keys) invalidated(k);
        return;
    }
    const auto push = resp::decode_reply(raw);  // any other shape: the general decoder
    if (push.is_error()) {  // unreadable: whatever it said is lost, so nothing held is trusted
        herd_.l1_flush();
        return;
    }
    if (push.elements.size() != 2 || push.elements[0].str != "invalidate") return;
    herd_.l1_stats().invalidation_messages.fetch_add(1, std::memory_order_relaxed);
    const auto& elements = push.elements[1];
    if (elements.type == resp::reply_type::null) {
        herd_.l1_flush();
        return;
    }
    for (const auto& k : elements.elements) invalidated(k.str);
}

void l1_tracking::invalidated(std::string_view key) {
    if (!up_ && !canary_key_.empty() && key == canary_key_) confirmed(gen_);
    else herd_.l1_invalidate(key);
}

}  // namespace herdguard
