// A client's own link to a Redis Cluster, for its stateful modes (issue 13): what a
// redis_connection in private mode is in front of one Redis.
//
// A private connection in front of a cluster must be to the right node, which the command that
// enters the mode names:
//  - MULTI: the node of the transaction's first key. MULTI (+OK) and the keyless commands after
//    it (+QUEUED) are answered here and sent once a keyed command (or EXEC) names the node; a
//    key of another slot later in the transaction gets CROSSSLOT, and EXEC then EXECABORT;
//  - WATCH, blocking commands (BLPOP...): the node of their key. A blocking command outside
//    every mode is alone with its reply on that connection, so a MOVED or ASK means it did not
//    run: it is sent again where the cluster says, and TRYAGAIN/CLUSTERDOWN/LOADING are waited
//    out, by the shared path's rule (cluster_backend::after_error), before any later command;
//  - SSUBSCRIBE: a connection per node that owns a subscribed shard channel. When a channel's
//    slot moves, Redis tells the subscriber (a `sunsubscribe` push it did not ask for); the link
//    keeps that from the client and subscribes again at the new owner (following MOVED if the
//    map is behind), so the client stays subscribed. SUNSUBSCRIBE goes where each channel lives;
//  - SUBSCRIBE/PSUBSCRIBE: one master (cluster pub/sub is broadcast to every node);
//  - anything else that sets connection state (AUTH, CLIENT ..., HELLO): one master, kept.
// The connection comes from the worker's pool (cluster_backend::take_private) and, when the
// mode ends cleanly (EXEC/DISCARD without a WATCH left, a blocking command answered), goes back
// to it: a transaction does not cost a connect (Envoy opens one per MULTI, Envoy #44338).
// Between modes the client's commands go through the shared cluster backend, with redirects
// followed. Order: a command that changes between the two waits until the other side has
// answered everything sent before it.
//
// Threading: the worker's thread only.
#pragma once

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "herdguard/upstream/backend.h"
#include "herdguard/upstream/cluster_redirect.h"

namespace herdguard {

class cluster_backend;
class redis_connection;

class cluster_link final : public client_link, public std::enable_shared_from_this<cluster_link> {
public:
    explicit cluster_link(cluster_backend& shared);
    ~cluster_link();

    void start() override {}
    void stop() override;
    void set_push_sink(std::function<void(std::string_view)> sink) override;
    void set_on_closed(std::function<void(std::string_view reason)> cb) override { on_closed_ = std::move(cb); }
    bool was_connected() const override { return was_connected_; }

    using backend::request;
    void request(std::string_view key, std::span<const std::string_view> argv, reply_handler* handler) override;
    void pass(const passthrough& cmd, reply_handler* handler) override;

    // What one command does to the link's state (public for the unit tests).
    enum class effect {
        plain,          // no state: the shared backend, unless the link is in a mode
        blocking,       // a blocking command: the node of its key, for its reply only
        begin_multi,    // MULTI
        end_multi,      // EXEC, DISCARD: the transaction and its WATCHes end
        watch,          // WATCH
        unwatch,        // UNWATCH
        subscribe,      // SUBSCRIBE, PSUBSCRIBE, SSUBSCRIBE, MONITOR: a push stream, for good
        sticky,         // AUTH, CLIENT ..., HELLO, READONLY...: connection state, for good
        name,           // CLIENT SETNAME / SETINFO: replayed on every connection the link takes
    };
    static effect effect_of(std::span<const std::string_view> argv, bool no_timeout, bool relayed);

private:
    // A blocking command the cluster redirected, or asked to try again, before it ran.
    struct redo {
        redirect_budget budget;
        std::string ask;                                   // ASKING and the command, at this node
        std::chrono::steady_clock::time_point not_before;  // a retry's pause
    };
    struct held {
        std::vector<std::string> argv;
        reply_handler* handler;
        bool no_timeout;
        bool relayed;
        std::optional<redo> again;  // set: to be sent again, before the commands that came after it
    };
    class counted;  // a reply handler that counts the link's replies in flight
    class follow;   // a blocking command's reply handler: sends it again on a redirect
    struct pause_timer;

    bool in_mode() const { return in_multi_ || watching_ || subscribed_ || sticky_; }
    bool try_dispatch(std::span<const std::string_view> argv, std::string_view raw, reply_handler* handler,
                      bool no_timeout, bool relayed, const redo* again);
    void pump();
    void send_again(held h);
    void pump_at(std::chrono::steady_clock::time_point when);
    // Where a command that needs the link's own connection must go ("" when no map is known): the
    // ASK target of a command sent again after an ASK, else its first key's master (any master
    // for a keyless one).
    std::string address_for(std::span<const std::string_view> argv, const redo* again) const;
    bool defer_transaction(std::span<const std::string_view> argv, effect e, reply_handler* handler);
    void bind(const std::string& address);
    void unbind_if_clean();
    void apply(effect e);
    void on_conn_closed(std::string_view reason);
    bool cross_slot(std::span<const std::string_view> argv, effect e);
    // SSUBSCRIBE / SUNSUBSCRIBE: the shard channels' own connections.
    bool shard_command(std::span<const std::string_view> argv, std::string_view raw, reply_handler* handler);
    struct shard_link;
    shard_link* shard_connection(const std::string& address);
    void on_shard_push(const std::string& address, std::string_view bytes);
    void resubscribe(const std::string& channel, const std::string& address);

    cluster_backend& shared_;
    std::shared_ptr<redis_connection> conn_;
    std::string conn_address_;
    std::size_t bound_pending_ = 0;     // replies awaited on conn_
    std::size_t shared_pending_ = 0;    // replies awaited from the shared backend
    std::deque<held> held_;             // commands waiting for their turn (order, or MULTI's key)
    std::unique_ptr<pause_timer> pause_;  // wakes pump() when a retried command's pause is over
    std::vector<std::vector<std::string>> names_;  // CLIENT SETNAME/SETINFO, replayed on bind
    // One per node that holds shard channels for this client.
    struct shard_link {
        std::shared_ptr<redis_connection> conn;
        std::set<std::string> channels;             // subscribed there
        std::multiset<std::string> silent;          // re-subscriptions: their confirmations stay here
    };
    std::map<std::string, shard_link> shards_;      // by node address
    std::multiset<std::string> client_unsubs_;      // SUNSUBSCRIBEs the client sent, until confirmed
    std::map<std::string, int> resubscribe_tries_;  // per channel, bounded (a MOVED loop)
    // A transaction is about one slot: its first key's (or the WATCHed key's that bound the
    // connection). A key of another slot is answered CROSSSLOT here, as a cluster does (the node
    // itself would answer MOVED while queueing), and EXEC then aborts the transaction.
    int tx_slot_ = -1;
    bool tx_aborted_ = false;
    bool in_multi_ = false;
    bool multi_deferred_ = false;  // MULTI answered here, not yet sent: no key has named the node
    std::vector<std::vector<std::string>> deferred_;  // keyless commands queued before that key
    bool watching_ = false;
    bool subscribed_ = false;
    bool sticky_ = false;
    bool stopped_ = false;
    bool pumping_ = false;
    bool was_connected_ = false;
    std::function<void(std::string_view)> push_sink_;
    std::function<void(std::string_view)> on_closed_;
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);  // for the counted handlers
};

}  // namespace herdguard
