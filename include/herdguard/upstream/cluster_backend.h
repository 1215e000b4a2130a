// A Redis Cluster behind the backend interface (backend.h), for one worker and one protocol
// (issue 13): the session and the herd engine address commands by key as before, and this finds
// the master that owns the key's slot.
//
// What it keeps: the process's slot map (cluster_watch.h), copied when its version changes; one
// shared, pipelined connection per master (redis_connection, shared mode), made on first use;
// the slots a MOVED has moved since the last map; and a small pool of private connections per
// node for the clients' stateful modes (cluster_link.h), so a transaction does not cost a
// connect.
//
// How a command goes (the rule per family is upstream/cluster_plan.h, decided from argv):
//  - slot: to the owner of its first key's slot; a keyless one to a master in turn;
//  - split: MGET, MSET, DEL, UNLINK, EXISTS, TOUCH cut by slot, one command per slot, their
//    replies put together (upstream/cluster_merge.h);
//  - all_masters: the same command to every master, replies merged; SCAN one master at a time;
//  - any_master: one master in turn.
// Every command sent is a cluster_call that reads its reply before the caller does: MOVED
// (the map changes; send it there), ASK (ASKING + the command there, map unchanged),
// TRYAGAIN/CLUSTERDOWN/LOADING/READONLY (again after a pause, within command_timeout), at most
// redis.cluster.max_redirects MOVED/ASK; so redirects never reach the client. A connection that
// is refused or lost asks for a refresh of the map; its commands fail with the connection's
// error (they may have run: resending is not safe).
//
// Threading: the worker's thread only, like shared_connections.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include <boost/asio/any_io_executor.hpp>

#include "herdguard/config/config.h"
#include "herdguard/stats/stats.h"
#include "herdguard/upstream/backend.h"
#include "herdguard/upstream/cluster_redirect.h"
#include "herdguard/upstream/cluster_topology.h"
#include "herdguard/upstream/connection_registry.h"

namespace boost::asio::ssl {
class context;
}

namespace herdguard {

namespace asio = boost::asio;

class cluster_watch;
class redis_connection;

class cluster_backend final : public backend {
public:
    // `tls`: redis.tls's context or nullptr. `resp3`: connections on which Redis speaks RESP3.
    cluster_backend(asio::any_io_executor ex, const config& cfg, std::shared_ptr<cluster_watch> watch, worker_stats& stats,
                    shared_connection_registry* registry, asio::ssl::context* tls, bool resp3);
    ~cluster_backend();
    cluster_backend(const cluster_backend&) = delete;
    cluster_backend& operator=(const cluster_backend&) = delete;

    using backend::request;
    void request(std::string_view key, std::span<const std::string_view> argv, reply_handler* handler) override;
    void pass(const passthrough& cmd, reply_handler* handler) override;

    // Connections made so far and how many are up (any thread: /readyz, /metrics).
    struct link_counts {
        std::size_t total = 0;
        std::size_t up = 0;
    };
    link_counts links() const;

    // --- for cluster_call and cluster_link (same worker) ---------------------------------------
    asio::any_io_executor executor() const { return ex_; }
    bool resp3() const { return resp3_; }
    const config& cfg() const { return cfg_; }
    cluster_watch& watch() { return *watch_; }
    worker_stats& stats() { return stats_; }
    // The shared connection to where `slot` goes now, after the MOVEDs seen since the last map;
    // nullptr when no master is known for it.
    redis_connection* slot_connection(std::uint16_t slot);
    // The address of the master of `slot` ("" when none is known), for private connections.
    std::string slot_address(std::uint16_t slot);
    // A master's address, in turn ("" when no map is known yet).
    std::string any_master();
    // The masters, sorted by address (the order SCAN walks them in).
    const std::vector<std::string>& masters();
    void note_moved(std::uint16_t slot, const std::string& address);
    // The shared connection to a node, made on first use.
    redis_connection& node(const std::string& address);
    // A private connection to a node: an idle one from the pool, or a new one (started).
    std::shared_ptr<redis_connection> take_private(const std::string& address);
    // Back to the pool after a client's transaction or blocking command, when it is clean; the
    // pool keeps at most `pool_per_node` per node and stops the rest.
    void give_back(const std::string& address, std::shared_ptr<redis_connection> conn);
    static constexpr std::size_t pool_per_node = 8;
    // "ERR herdguard: ..." when no map is known yet.
    std::string no_map_error() const;
    // A reply given by herdguard itself, on the executor: never inside the caller's pass(), which
    // may not expect its reply before it returns.
    void answer_now(reply_handler* handler, std::string reply);

    // The next step for a command whose node answered `raw` (an error reply): the one rule for
    // the shared path (cluster_call) and the link's blocking commands. It counts the redirect
    // or retry, notes a MOVED for the slot and asks for a new map where the reply says the map
    // is out of date. `answered`: the node that replied, whose host a redirect without one means.
    struct next_step {
        enum class kind {
            deliver,  // the reply is the answer (not a redirect, or the deadline has passed)
            give_up,  // more than max_redirects: `reply` is herdguard's error
            resend,   // MOVED: send it again where the slot goes now (slot_address)
            ask,      // ASK: ASKING and the command, back to back, at `address`
            retry,    // TRYAGAIN, CLUSTERDOWN, LOADING, READONLY: the same again after `pause`
        } what = kind::deliver;
        std::string address;
        std::chrono::milliseconds pause{0};
        std::string reply;
    };
    next_step after_error(std::string_view raw, std::uint16_t slot, const std::string& answered,
                          redirect_budget& budget);

private:
    void sync_map();
    // A started connection to "host:port": shared (pipelined, reconnecting) or private.
    std::shared_ptr<redis_connection> connect(const std::string& address, bool shared);
    void send_slot(std::uint16_t slot, std::string bytes, reply_handler* handler, bool no_timeout);
    void send_node(const std::string& address, std::string bytes, reply_handler* handler, bool no_timeout);
    void send_by_first_key(const passthrough& cmd, reply_handler* handler);
    void split(const passthrough& cmd, const struct cluster_plan& plan, reply_handler* handler);
    void fan_out(const passthrough& cmd, const struct cluster_plan& plan, reply_handler* handler);
    void scan(const passthrough& cmd, reply_handler* handler);

    asio::any_io_executor ex_;
    const config& cfg_;
    std::shared_ptr<cluster_watch> watch_;  // shared: in-flight calls may need it at shutdown
    worker_stats& stats_;
    shared_connection_registry* registry_;
    asio::ssl::context* tls_;
    bool resp3_;

    std::shared_ptr<const cluster_map> map_;
    std::uint64_t version_ = 0;
    std::vector<std::string> masters_;  // sorted
    std::size_t next_master_ = 0;
    // Per slot, the connection its commands go to: filled on first use from the map, set by a
    // MOVED, emptied when a new map arrives.
    std::vector<redis_connection*> slot_conn_;
    std::unordered_map<std::uint16_t, std::string> moved_;  // slot -> address, until the next map
    mutable std::mutex nodes_mutex_;  // taken to add to nodes_ and by links() (other threads)
    std::unordered_map<std::string, std::shared_ptr<redis_connection>> nodes_;
    std::unordered_map<std::string, std::vector<std::shared_ptr<redis_connection>>> pool_;
};

}  // namespace herdguard
