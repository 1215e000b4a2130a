#include "herdguard/upstream/cluster_link.h"

#include <algorithm>

#include <boost/asio/steady_timer.hpp>

#include "herdguard/resp/command_keys.h"
#include "herdguard/resp/key_slot.h"
#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_value.h"
#include "herdguard/upstream/cluster_redirect.h"
#include "herdguard/upstream/cluster_watch.h"
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
        hand_on(inner, raw, failure);
    }
    reply_handler* inner_;
};

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
        hand_on(inner, raw, failure);
        if (link && !link->stopped_) {
            link->unbind_if_clean();
            link->pump();
        }
    }
    std::weak_ptr<cluster_link> link_;
    bool bound_;
    reply_handler* inner_;
};

// A blocking command's reply on the way back. Outside every mode it is alone with its reply on the
// link's connection, so a redirect means it did not run: the shared path's rule
// (cluster_backend::after_error) says where and when, and the link sends it again before any
// command that came after it. Any other reply (or no link left) is the client's.
class cluster_link::follow final : public reply_handler {
public:
    follow(std::weak_ptr<cluster_link> link, std::span<const std::string_view> argv, reply_handler* inner,
           bool no_timeout, redirect_budget budget)
        : link_(std::move(link)), argv_(argv.begin(), argv.end()), inner_(inner), no_timeout_(no_timeout),
          budget_(budget) {}
    void on_reply(std::string_view raw) override {
        auto link = link_.lock();
        if (!link || link->stopped_ || raw.empty() || raw[0] != '-') return finish(raw, false);
        const std::vector<std::string_view> argv(argv_.begin(), argv_.end());
        const auto slot = static_cast<std::uint16_t>(resp::key_slot(resp::first_key(argv)));
        auto step = link->shared_.after_error(raw, slot, link->conn_address_, budget_);
        redo again{budget_, {}, {}};
        using kind = cluster_backend::next_step::kind;
        switch (step.what) {
            case kind::deliver: return finish(raw, false);
            case kind::give_up: return finish(step.reply, true);
            case kind::resend: break;  // address_for() now says where: the MOVED is noted
            case kind::ask: again.ask = std::move(step.address); break;
            case kind::retry: again.not_before = std::chrono::steady_clock::now() + step.pause; break;
        }
        link->send_again(held{std::move(argv_), inner_, no_timeout_, false, std::move(again)});
        delete this;
    }
    void on_failure(std::string_view raw) override { finish(raw, true); }

private:
    void finish(std::string_view raw, bool failure) {
        auto* inner = inner_;
        delete this;
        hand_on(inner, raw, failure);
    }
    std::weak_ptr<cluster_link> link_;
    std::vector<std::string> argv_;
    reply_handler* inner_;
    bool no_timeout_;
    redirect_budget budget_;
};

struct cluster_link::pause_timer {
    explicit pause_timer(asio::any_io_executor ex) : timer(std::move(ex)) {}
    asio::steady_timer timer;
    bool armed = false;
};

cluster_link::cluster_link(cluster_backend& shared) : shared_(shared) {}
cluster_link::~cluster_link() { stop(); }

cluster_link::effect cluster_link::effect_of(std::span<const std::string_view> argv, bool no_timeout, bool relayed) {
    if (relayed) return effect::subscribe;
    if (argv.empty()) return effect::plain;
    const auto name = argv[0];
    if (iequals(name, "multi")) return effect::begin_multi;
    if (iequals_any(name, {"exec", "discard"})) return effect::end_multi;
    if (iequals(name, "watch")) return effect::watch;
    if (iequals(name, "unwatch")) return effect::unwatch;
    if (iequals_any(name, {"subscribe", "psubscribe", "ssubscribe", "monitor"})) return effect::subscribe;
    if (iequals(name, "client") && argv.size() > 1 && iequals_any(argv[1], {"setname", "setinfo"})) return effect::name;
    if (iequals_any(name, {"auth", "hello", "client", "readonly", "readwrite", "select", "asking", "reset"}))
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
    if (pause_) pause_->timer.cancel();
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
    auto shards = std::move(shards_);
    shards_.clear();
    for (auto& [addr, s] : shards)
        if (s.conn) s.conn->stop();
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
    if (held_.empty() && try_dispatch(cmd.argv, cmd.raw, handler, cmd.no_timeout, relayed, nullptr)) return;
    held_.push_back(
        held{std::vector<std::string>(cmd.argv.begin(), cmd.argv.end()), handler, cmd.no_timeout, relayed, {}});
    pump();
}

void cluster_link::pump() {
    if (pumping_) return;  // a reply delivered synchronously below: the loop goes on
    // A failure answered synchronously inside try_dispatch can run the session on, which may
    // stop (RESET) and drop us: keep ourselves alive, and the command out of held_ while it is
    // dispatched, so stop() never answers it a second time.
    auto self = shared_from_this();
    pumping_ = true;
    while (!held_.empty() && !stopped_) {
        if (const auto& again = held_.front().again;
            again && again->not_before > std::chrono::steady_clock::now()) {
            pump_at(again->not_before);  // a retry's pause: everything after it waits too
            break;
        }
        held h = std::move(held_.front());
        held_.pop_front();
        std::vector<std::string_view> argv(h.argv.begin(), h.argv.end());
        if (!try_dispatch(argv, {}, h.handler, h.no_timeout, h.relayed, h.again ? &*h.again : nullptr)) {
            // try_dispatch did nothing: back to the front, unless stop() has answered it already.
            if (!stopped_) held_.push_front(std::move(h));
            else if (h.handler != nullptr) h.handler->on_failure(closed_reply);
            break;
        }
    }
    pumping_ = false;
}

void cluster_link::send_again(held h) {
    // Before the commands that came after it, behind those sent again already: their order.
    auto at = std::find_if(held_.begin(), held_.end(), [](const held& x) { return !x.again; });
    held_.insert(at, std::move(h));
}

void cluster_link::pump_at(std::chrono::steady_clock::time_point when) {
    if (!pause_) pause_ = std::make_unique<pause_timer>(shared_.executor());
    if (pause_->armed) return;
    pause_->armed = true;
    pause_->timer.expires_at(when);
    pause_->timer.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
        auto link = weak.lock();
        if (!link) return;
        link->pause_->armed = false;
        if (!ec && !link->stopped_) link->pump();
    });
}

// Sends the command now if its turn has come; false (and nothing done) if it must wait.
bool cluster_link::try_dispatch(std::span<const std::string_view> argv, std::string_view raw, reply_handler* handler,
                                bool no_timeout, bool relayed, const redo* again) {
    if (!argv.empty() && (iequals(argv[0], "ssubscribe") || iequals(argv[0], "sunsubscribe"))) {
        // Their confirmations stream to the client: only once everything before has answered.
        if (shared_pending_ > 0 || bound_pending_ > 0) return false;
        if (shard_command(argv, raw, handler)) return true;
    }
    if (argv.size() == 2 && iequals(argv[0], "client") && iequals(argv[1], "getname") && !in_mode()) {
        // The name is the link's (replayed on each node connection), not one node's: answered
        // here rather than pinning the client to a master to ask one.
        std::string reply = "$-1\r\n";
        for (const auto& n : names_)
            if (n.size() == 3 && iequals(n[1], "setname") && !n[2].empty()) {
                reply.clear();
                resp::append_bulk(reply, n[2]);
            }
        shared_.answer_now(handler, std::move(reply));
        return true;
    }
    const effect e = effect_of(argv, no_timeout, relayed);
    const passthrough cmd{argv, raw, no_timeout};
    if (e == effect::name) {
        // The last value of each attribute (SETNAME, SETINFO LIB-NAME, SETINFO LIB-VER).
        const std::size_t id_len = iequals(argv[1], "setinfo") && argv.size() > 2 ? 3 : 2;
        std::erase_if(names_, [&](const std::vector<std::string>& n) {
            if (n.size() < id_len) return false;
            for (std::size_t i = 1; i < id_len; ++i)
                if (!iequals(n[i], argv[i])) return false;
            return true;
        });
        names_.emplace_back(argv.begin(), argv.end());
        if (conn_) {
            ++bound_pending_;
            conn_->pass(cmd, new counted(weak_from_this(), true, handler));
        } else if (handler != nullptr) {
            // Remembered for every connection the link takes; nothing to send it to now.
            shared_.answer_now(handler, "+OK\r\n");
        }
        return true;
    }
    // Outside every mode: plain commands, and EXEC, DISCARD, UNWATCH (Redis's own answer from any
    // master) take the shared path.
    if (!in_mode() && (e == effect::plain || e == effect::end_multi || e == effect::unwatch)) {
        if (conn_) {
            if (bound_pending_ > 0) return false;  // a blocking command still answering
            unbind_if_clean();
        }
        ++shared_pending_;
        shared_.pass(cmd, new counted(weak_from_this(), false, handler));
        return true;
    }
    if (conn_ && !in_mode() && e != effect::subscribe && e != effect::sticky) {
        // Bound for a blocking command that is still answering, or idle: a command for another
        // node waits for it, then takes a connection there.
        const std::string address = address_for(argv, again);
        if (address != conn_address_) {
            if (bound_pending_ > 0) return false;
            unbind_if_clean();
        }
    }
    if (!conn_) {
        if (e == effect::begin_multi || multi_deferred_) {
            if (defer_transaction(argv, e, handler)) return true;
        }
        if (shared_pending_ > 0) return false;  // earlier commands first
        const std::string address = address_for(argv, again);
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
        shared_.answer_now(handler, std::string(crossslot_reply));
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
    if (e == effect::blocking && !in_mode()) {
        if (again && !again->ask.empty()) {
            // ASKING holds for the next command only: the two go back to back.
            static constexpr std::string_view asking[] = {"ASKING"};
            conn_->send_command(asking, &discard_reply());
        }
        handler = new follow(weak_from_this(), argv, handler, no_timeout,
                             again ? again->budget : redirect_budget(shared_.cfg().redis.command_timeout));
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
            shared_.answer_now(handler, "-ERR MULTI calls can not be nested\r\n");
            return true;
        }
        multi_deferred_ = true;
        in_multi_ = true;
        tx_aborted_ = false;
        shared_.answer_now(handler, "+OK\r\n");
        return true;
    }
    if (e == effect::end_multi && iequals(argv[0], "discard")) {  // nothing reached a node
        deferred_.clear();
        multi_deferred_ = false;
        apply(e);
        shared_.answer_now(handler, "+OK\r\n");
        return true;
    }
    if (e == effect::end_multi || !resp::first_key(argv).empty()) return false;  // binds now
    deferred_.emplace_back(argv.begin(), argv.end());
    shared_.answer_now(handler, "+QUEUED\r\n");
    return true;
}

std::string cluster_link::address_for(std::span<const std::string_view> argv, const redo* again) const {
    if (again && !again->ask.empty()) return again->ask;  // this once, where the ASK said
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
        case effect::begin_multi:
            if (!in_multi_) tx_aborted_ = false;  // a nested MULTI leaves the transaction as it is
            in_multi_ = true;
            break;
        case effect::end_multi:
            if (!in_multi_) break;  // EXEC/DISCARD without MULTI: Redis keeps the WATCHes
            in_multi_ = false;
            watching_ = false;
            tx_slot_ = -1;
            tx_aborted_ = false;
            break;
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
    // The next client that takes it from the pool must not show this one's name in CLIENT LIST.
    if (!names_.empty()) {
        static constexpr std::string_view unname[] = {"CLIENT", "SETNAME", ""};
        c->send_command(unname, &discard_reply());
    }
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

// ---------------------------------------------------------------------------------------------
// Shard channels (SSUBSCRIBE): a connection per node, kept subscribed across slot moves.

cluster_link::shard_link* cluster_link::shard_connection(const std::string& address) {
    auto [it, added] = shards_.try_emplace(address);
    if (!added) return &it->second;
    // Never pooled: a subscribed connection is the client's for good.
    it->second.conn = shared_.take_private(address);
    std::weak_ptr<cluster_link> weak = weak_from_this();
    it->second.conn->set_on_closed([weak, address](std::string_view reason) {
        if (auto l = weak.lock(); l && !l->stopped_) {
            // Its subscriptions are gone (the session then ends the client's connection); never
            // connected, nothing was lost and the session goes back to the shared path.
            auto it = l->shards_.find(address);
            l->was_connected_ = it != l->shards_.end() && it->second.conn->was_connected();
            if (l->on_closed_) l->on_closed_(reason);
        }
    });
    it->second.conn->set_push_sink([weak, address](std::string_view bytes) {
        if (auto l = weak.lock()) l->on_shard_push(address, bytes);
    });
    subscribed_ = true;
    return &it->second;
}

// False: not a shard command this handles (Redis answers, e.g. its arity error).
bool cluster_link::shard_command(std::span<const std::string_view> argv, std::string_view raw,
                                 reply_handler* handler) {
    const passthrough cmd{argv, raw, true};
    if (iequals(argv[0], "ssubscribe")) {
        if (argv.size() < 2) return false;
        const std::string address = shared_.slot_address(resp::key_slot(argv[1]));
        if (address.empty()) {
            if (handler != nullptr) handler->on_failure(shared_.no_map_error());
            return true;
        }
        // Its channels are recorded when Redis confirms them (on_shard_push): a refused one
        // (CROSSSLOT) must not be remembered.
        shard_connection(address)->conn->pass(cmd, handler);
        return true;
    }
    // SUNSUBSCRIBE: each channel where it lives; none named: every node's, or Redis's answer for
    // a client with no shard channels.
    if (argv.size() == 1) {
        bool sent = false;
        for (auto& [addr, s] : shards_) {
            if (s.channels.empty()) continue;
            for (const auto& ch : s.channels) client_unsubs_.insert(ch);
            s.conn->pass(cmd, nullptr);
            sent = true;
        }
        return sent;  // else: the bound path, for Redis's "no channels" reply
    }
    for (std::size_t i = 1; i < argv.size(); ++i) {
        const std::string channel(argv[i]);
        shard_link* holder = nullptr;
        for (auto& [addr, s] : shards_)
            if (s.channels.count(channel) != 0) holder = &s;
        if (holder == nullptr && !shards_.empty()) holder = &shards_.begin()->second;  // Redis answers
        if (holder == nullptr) return false;
        client_unsubs_.insert(channel);
        const std::string_view one[] = {argv[0], argv[i]};
        holder->conn->pass(passthrough{one, {}, true}, nullptr);
    }
    return true;
}

// Every reply and message of a shard connection passes here on its way to the client.
void cluster_link::on_shard_push(const std::string& address, std::string_view bytes) {
    auto it = shards_.find(address);
    if (it == shards_.end()) return;
    shard_link& s = it->second;
    const auto r = !bytes.empty() && bytes[0] == '-' ? read_cluster_redirect(bytes) : cluster_redirect{};
    if (r.what != cluster_redirect::kind::none && !s.silent.empty()) {
        // A re-subscription sent where the map said, refused: follow the cluster's answer.
        const std::string channel = *s.silent.begin();
        s.silent.erase(s.silent.begin());
        s.channels.erase(channel);
        shared_.watch().refresh_soon("SSUBSCRIBE redirected");
        // Again after a pause that doubles (10, 20, 40 ms ...): while a slot moves, its two nodes
        // may send each other's address for a moment (the new owner not told yet), and
        // TRYAGAIN/CLUSTERDOWN need time by their nature.
        const std::string there = r.what == cluster_redirect::kind::retry ? std::string() : r.address(address);
        const int tries = resubscribe_tries_.count(channel) != 0 ? resubscribe_tries_[channel] : 0;
        auto timer = std::make_shared<asio::steady_timer>(shared_.executor(),
                                                          std::chrono::milliseconds(10 << std::min(tries, 6)));
        std::weak_ptr<cluster_link> weak = weak_from_this();
        timer->async_wait([weak, timer, channel, there](const boost::system::error_code& ec) {
            auto l = weak.lock();
            if (ec || !l || l->stopped_) return;
            l->resubscribe(channel, there.empty() ? l->shared_.slot_address(resp::key_slot(channel)) : there);
        });
        return;
    }
    const resp::reply_value v = resp::decode_reply(bytes);
    if (v.elements.size() >= 2 && v.elements[1].type == resp::reply_type::bulk) {
        const std::string& kind = v.elements[0].str;
        const std::string& channel = v.elements[1].str;
        if (kind == "ssubscribe") {
            s.channels.insert(channel);
            if (s.silent.count(channel) != 0) {
                s.silent.erase(s.silent.find(channel));  // the client never left: no confirmation
                resubscribe_tries_.erase(channel);
                return;
            }
        }
        if (kind == "sunsubscribe") {
            s.channels.erase(channel);
            if (auto asked = client_unsubs_.find(channel); asked != client_unsubs_.end()) {
                client_unsubs_.erase(asked);
            } else {
                // Not asked for: the channel's slot moved away from this node. Subscribe again
                // where it lives now; the client stays subscribed and never sees this.
                shared_.watch().refresh_soon("shard channel moved");
                resubscribe(channel, shared_.slot_address(resp::key_slot(channel)));
                return;
            }
        }
    }
    if (push_sink_) push_sink_(bytes);
}

void cluster_link::resubscribe(const std::string& channel, const std::string& address) {
    // Bounded (about 2.5 s of doubling pauses at the least, more with a larger max_redirects): a
    // map that keeps pointing at the wrong node gives up, and the client is told.
    const int limit = std::max(shared_.cfg().redis.cluster.max_redirects, 8);
    if (address.empty() || ++resubscribe_tries_[channel] > limit) {
        resubscribe_tries_.erase(channel);
        if (push_sink_) {
            // In the client's protocol: a RESP3 client reads '*' as an in-band reply.
            std::string push = shared_.resp3() ? ">3\r\n$12\r\nsunsubscribe\r\n" : "*3\r\n$12\r\nsunsubscribe\r\n";
            resp::append_bulk(push, channel);
            push += ":0\r\n";
            push_sink_(push);
        }
        return;
    }
    auto* s = shard_connection(address);
    s->channels.insert(channel);
    s->silent.insert(channel);
    const std::string_view argv[] = {"SSUBSCRIBE", channel};
    s->conn->send_command(argv, nullptr, true);
}

}  // namespace herdguard
