#include "herdguard/upstream/cluster_link.h"

#include <boost/asio/post.hpp>

#include "herdguard/resp/command_keys.h"
#include "herdguard/resp/key_slot.h"
#include "herdguard/upstream/cluster_backend.h"
#include "herdguard/upstream/redis_connection.h"
#include "herdguard/util/strings.h"

namespace herdguard {

namespace {

constexpr std::string_view closed_reply = "-ERR herdguard: connection closed\r\n";
constexpr std::string_view crossslot_reply = "-CROSSSLOT Keys in request don't hash to the same slot\r\n";
constexpr std::string_view execabort_reply = "-EXECABORT Transaction discarded because of previous errors.\r\n";

// DISCARD's +OK, told as the EXEC of an aborted transaction.
class as_execabort final : public reply_handler {
public:
    explicit as_execabort(reply_handler* inner) : inner_(inner) {}
    void on_reply(std::string_view raw) override { finish(raw.empty() || raw[0] != '+' ? raw : execabort_reply, false); }
    void on_failure(std::string_view raw) override { finish(raw, true); }

private:
    void finish(std::string_view raw, bool failure) {
        auto* inner = inner_;
        delete this;
        if (failure) inner->on_failure(raw);
        else inner->on_reply(raw);
    }
    reply_handler* inner_;
};

bool is_any(std::string_view name, std::initializer_list<std::string_view> names) {
    for (auto n : names)
        if (iequals(name, n)) return true;
    return false;
}

}  // namespace

// Counts a reply in flight on one side (the link's connection, or the shared backend), hands it
// on, and lets the link move on. The link may be gone by then (the shared backend answers after
// the client's link was stopped): it only holds a weak reference.
class cluster_link::counted final : public reply_handler {
public:
    counted(std::weak_ptr<cluster_link> link, bool bound, reply_handler* inner)
        : link_(std::move(link)), bound_(bound), inner_(inner) {}
    void on_reply(std::string_view raw) override { finish(raw, false); }
    void on_failure(std::string_view raw) override { finish(raw, true); }

private:
    void finish(std::string_view raw, bool failure) {
        auto link = link_.lock();
        if (link) --(bound_ ? link->bound_pending_ : link->shared_pending_);
        auto* inner = inner_;
        delete this;
        if (failure) inner->on_failure(raw);
        else inner->on_reply(raw);
        if (link && !link->stopped_) {
            link->unbind_if_clean();
            link->pump();
        }
    }
    std::weak_ptr<cluster_link> link_;
    bool bound_;
    reply_handler* inner_;
};

cluster_link::~cluster_link() { stop(); }

cluster_link::effect cluster_link::effect_of(std::span<const std::string_view> argv, bool no_timeout, bool relayed) {
    if (relayed) return effect::subscribe;
    if (argv.empty()) return effect::plain;
    const auto name = argv[0];
    if (iequals(name, "multi")) return effect::begin_multi;
    if (is_any(name, {"exec", "discard"})) return effect::end_multi;
    if (iequals(name, "watch")) return effect::watch;
    if (iequals(name, "unwatch")) return effect::unwatch;
    if (is_any(name, {"subscribe", "psubscribe", "ssubscribe", "monitor"})) return effect::subscribe;
    if (iequals(name, "client") && argv.size() > 1 && is_any(argv[1], {"setname", "setinfo"})) return effect::name;
    if (is_any(name, {"auth", "hello", "client", "readonly", "readwrite", "select", "asking", "reset"}))
        return effect::sticky;
    if (no_timeout) return effect::blocking;
    return effect::plain;
}

void cluster_link::set_push_sink(std::function<void(std::string_view)> sink) {
    push_sink_ = std::move(sink);
    if (conn_) conn_->set_push_sink(push_sink_);
}

void cluster_link::stop() {
    if (stopped_) return;
    stopped_ = true;
    // Synchronously, as client_link promises: what is held fails, the connection (whose state
    // is unknown) is closed, not pooled.
    auto held = std::move(held_);
    held_.clear();
    for (auto& h : held)
        if (h.handler != nullptr) h.handler->on_failure(closed_reply);
    if (conn_) {
        auto c = std::move(conn_);
        c->stop();
    }
    push_sink_ = nullptr;
    on_closed_ = nullptr;
}

void cluster_link::request(std::string_view, std::span<const std::string_view> argv, reply_handler* handler) {
    pass(passthrough{argv, {}, false}, handler);
}

void cluster_link::pass(const passthrough& cmd, reply_handler* handler) {
    if (stopped_) {
        if (handler != nullptr) handler->on_failure(closed_reply);
        return;
    }
    const bool relayed = handler == nullptr;
    if (held_.empty() && try_dispatch(cmd.argv, cmd.raw, handler, cmd.no_timeout, relayed)) return;
    held_.push_back(held{std::vector<std::string>(cmd.argv.begin(), cmd.argv.end()), handler, cmd.no_timeout, relayed});
    pump();
}

void cluster_link::pump() {
    if (pumping_) return;  // a reply delivered synchronously below: the loop goes on
    pumping_ = true;
    while (!held_.empty() && !stopped_) {
        // A deque keeps references to its elements valid across push_back (pass() re-entered
        // from a reply delivered inside try_dispatch).
        held& h = held_.front();
        std::vector<std::string_view> argv(h.argv.begin(), h.argv.end());
        if (!try_dispatch(argv, {}, h.handler, h.no_timeout, h.relayed)) break;
        held_.pop_front();
    }
    pumping_ = false;
}

// Sends the command now if its turn has come; false (and nothing done) if it must wait.
bool cluster_link::try_dispatch(std::span<const std::string_view> argv, std::string_view raw, reply_handler* handler,
                                bool no_timeout, bool relayed) {
    const effect e = effect_of(argv, no_timeout, relayed);
    const passthrough cmd{argv, raw, no_timeout};
    if (e == effect::name) {
        names_.emplace_back(argv.begin(), argv.end());
        if (conn_) {
            ++bound_pending_;
            conn_->pass(cmd, new counted(weak_from_this(), true, handler));
        } else if (handler != nullptr) {
            // Remembered for every connection the link takes; nothing to send it to now.
            answer_now(handler, "+OK\r\n");
        }
        return true;
    }
    // EXEC, DISCARD, UNWATCH outside a mode: Redis's own answer from any master.
    const bool modal = e != effect::plain && !((e == effect::end_multi || e == effect::unwatch) && !in_mode());
    if (!modal && !in_mode()) {
        if (conn_) {
            if (bound_pending_ > 0) return false;  // a blocking command still answering
            unbind_if_clean();
        }
        ++shared_pending_;
        shared_.pass(cmd, new counted(weak_from_this(), false, handler));
        return true;
    }
    if (!conn_) {
        if (e == effect::begin_multi || multi_deferred_) {
            if (defer_transaction(argv, e, handler)) return true;
        }
        if (shared_pending_ > 0) return false;  // earlier commands first
        const std::string address = address_for(argv, e);
        if (address.empty()) {
            if (handler != nullptr) handler->on_failure(shared_.no_map_error());
            return true;
        }
        bind(address);
        if (multi_deferred_) {
            // The transaction opens on the node now: MULTI and what was queued before the first
            // key (their replies were given already: +OK, +QUEUED).
            static constexpr std::string_view multi[] = {"MULTI"};
            conn_->send_command(multi, &discard_reply());
            for (const auto& d : deferred_) {
                std::vector<std::string_view> v(d.begin(), d.end());
                conn_->send_command(v, &discard_reply());
            }
            deferred_.clear();
            multi_deferred_ = false;
        }
    }
    if (cross_slot(argv, e)) {
        answer_now(handler, std::string(crossslot_reply));
        return true;
    }
    const bool aborted_exec = e == effect::end_multi && in_multi_ && tx_aborted_ && iequals(argv[0], "exec");
    apply(e);
    if (aborted_exec) {
        static constexpr std::string_view discard[] = {"DISCARD"};
        ++bound_pending_;
        conn_->pass(passthrough{discard, {}, false}, new counted(weak_from_this(), true, new as_execabort(handler)));
        return true;
    }
    if (handler == nullptr) {
        conn_->pass(cmd, nullptr);  // relayed: its replies stream to the push sink
        return true;
    }
    ++bound_pending_;
    conn_->pass(cmd, new counted(weak_from_this(), true, handler));
    return true;
}

// A MULTI with no connection yet, and the keyless commands after it: answered here and kept
// until a key names the node (the client waits for MULTI's +OK before it sends the next
// command, so MULTI cannot wait for the key). True when the command was answered.
bool cluster_link::defer_transaction(std::span<const std::string_view> argv, effect e, reply_handler* handler) {
    if (e == effect::begin_multi) {
        if (multi_deferred_) {
            answer_now(handler, "-ERR MULTI calls can not be nested\r\n");
            return true;
        }
        multi_deferred_ = true;
        in_multi_ = true;
        tx_aborted_ = false;
        answer_now(handler, "+OK\r\n");
        return true;
    }
    if (e == effect::end_multi && iequals(argv[0], "discard")) {  // nothing reached a node
        deferred_.clear();
        multi_deferred_ = false;
        apply(e);
        answer_now(handler, "+OK\r\n");
        return true;
    }
    if (e == effect::end_multi || !resp::first_key(argv).empty()) return false;  // binds now
    deferred_.emplace_back(argv.begin(), argv.end());
    answer_now(handler, "+QUEUED\r\n");
    return true;
}

std::string cluster_link::address_for(std::span<const std::string_view> argv, effect e) const {
    if (e == effect::subscribe && argv.size() > 1 && iequals(argv[0], "ssubscribe"))
        return shared_.slot_address(resp::key_slot(argv[1]));  // a shard channel lives in a slot
    const std::string_view key = resp::first_key(argv);
    return key.empty() ? shared_.any_master() : shared_.slot_address(resp::key_slot(key));
}

// In a transaction bound to a slot, a command whose first key is in another slot.
bool cluster_link::cross_slot(std::span<const std::string_view> argv, effect e) {
    if (e != effect::plain && e != effect::blocking && e != effect::watch) return false;
    const std::string_view key = resp::first_key(argv);
    if (key.empty()) return false;
    const int slot = resp::key_slot(key);
    if (!in_multi_) {  // a WATCH before MULTI names the transaction's slot
        if (e == effect::watch && tx_slot_ < 0) tx_slot_ = slot;
        return false;
    }
    if (tx_slot_ < 0) tx_slot_ = slot;
    if (slot == tx_slot_) return false;
    tx_aborted_ = true;
    return true;
}

void cluster_link::answer_now(reply_handler* handler, std::string reply) {
    if (handler == nullptr) return;
    asio::post(shared_.executor(), [handler, reply = std::move(reply)] { handler->on_reply(reply); });
}

void cluster_link::bind(const std::string& address) {
    conn_ = shared_.take_private(address);
    conn_address_ = address;
    std::weak_ptr<cluster_link> weak = weak_from_this();
    conn_->set_on_closed([weak](std::string_view reason) {
        if (auto l = weak.lock()) l->on_conn_closed(reason);
    });
    if (push_sink_) conn_->set_push_sink(push_sink_);
    for (const auto& n : names_) {
        std::vector<std::string_view> v(n.begin(), n.end());
        conn_->send_command(v, &discard_reply());
    }
}

void cluster_link::apply(effect e) {
    switch (e) {
        case effect::begin_multi: in_multi_ = true; tx_aborted_ = false; break;
        case effect::end_multi: in_multi_ = false; watching_ = false; tx_slot_ = -1; tx_aborted_ = false; break;
        case effect::watch: watching_ = true; break;
        case effect::unwatch:
            if (!in_multi_) {
                watching_ = false;
                tx_slot_ = -1;
            }
            break;
        case effect::subscribe: subscribed_ = true; break;
        case effect::sticky: sticky_ = true; break;
        case effect::plain: case effect::blocking: case effect::name: break;
    }
}

// Out of every mode with nothing in flight: the connection goes back to the pool.
void cluster_link::unbind_if_clean() {
    if (!conn_ || in_mode() || bound_pending_ > 0) return;
    auto c = std::move(conn_);
    shared_.give_back(conn_address_, std::move(c));
}

void cluster_link::on_conn_closed(std::string_view reason) {
    if (stopped_) return;
    if (in_mode()) {
        // The transaction, WATCHes or subscriptions are gone with it: the session ends the
        // client's connection (or, never connected, goes back to the shared path).
        was_connected_ = conn_ && conn_->was_connected();
        if (on_closed_) on_closed_(reason);
        return;
    }
    conn_.reset();  // idle between modes: nothing was lost
    pump();
}

}  // namespace herdguard
