// A real Redis Cluster for the tests (issue 13): six `redis-server --cluster-enabled yes` on free
// loopback ports (three masters, three replicas, cluster-node-timeout 1000), joined by
// `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, ready when every node
// says cluster_state:ok and knows the three replicas, and every replica has synced. Stopped by PID with the rest of the test's processes.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "harness.h"
#include "herdguard/resp/key_slot.h"
#include "herdguard/resp/reply_value.h"
#include "herdguard/upstream/cluster_topology.h"

namespace herdguard::test {

class redis_cluster {
  public:
    explicit redis_cluster(const temp_dir& dir) {
        const std::vector<std::string> cluster_args{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                                    "--cluster-node-timeout", "1000",
                                                    // A replica syncs at once, not after Redis 7's 5 s wait
                                                    // for more replicas to share the transfer.
                                                    "--repl-diskless-sync-delay", "0"};
        for (int i = 0; i < 6; ++i) nodes_.push_back(start_node(dir, cluster_args));
        std::vector<std::string> create{"redis-cli", "--cluster", "create"};
        for (const auto& n : nodes_) create.push_back("127.0.0.1:" + std::to_string(n->port()));
        create.insert(create.end(), {"--cluster-replicas", "1", "--cluster-yes"});
        const auto r = run_command(create, 30s);
        if (r.exit_code != 0) throw harness_error("redis-cli --cluster create failed: " + r.out + r.err);
        // cluster_state:ok comes before every node knows which nodes are replicas: until then a
        // node's CLUSTER SHARDS / NODES still shows some replicas as masters of empty shards.
        for (const auto& n : nodes_) {
            const bool ok = eventually(
                [&] {
                    client c(n->port());
                    if (c.cmd_reply({"CLUSTER", "INFO"}).str.find("cluster_state:ok") == std::string::npos) return false;
                    const std::string nodes = c.cmd_reply({"CLUSTER", "NODES"}).str;
                    std::size_t replicas = 0;
                    for (auto at = nodes.find("slave"); at != std::string::npos; at = nodes.find("slave", at + 1))
                        ++replicas;
                    if (replicas != 3) return false;
                    // A replica still in its first sync cannot take over (a failover test would
                    // wait for a promotion that never comes): its link to the master must be up.
                    const std::string repl = c.cmd_reply({"INFO", "replication"}).str;
                    return repl.find("role:master") != std::string::npos ||
                           repl.find("master_link_status:up") != std::string::npos;
                },
                15s, 50ms);
            if (!ok)
                throw harness_error("node " + std::to_string(n->port()) +
                                    " never reached cluster_state:ok with 3 masters and 3 replicas");
        }
    }
    std::uint16_t port(std::size_t i) const { return nodes_.at(i)->port(); }
    std::size_t size() const { return nodes_.size(); }
    redis_server& node(std::size_t i) { return *nodes_.at(i); }

  private:
    // A node's port must be at most 55535 (its cluster bus listens on port + 10000), so the usual
    // free_port() (often in the ephemeral range, up to 60999) will not do: a random port in
    // 20000-29999 whose bus port is free too, a few tries.
    static bool bindable(std::uint16_t port) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return false;
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        addr.sin_port = htons(port);
        const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
        ::close(fd);
        return ok;
    }
    static std::unique_ptr<redis_server> start_node(const temp_dir& dir, const std::vector<std::string>& args) {
        static std::mt19937 rng(std::random_device{}());
        std::uniform_int_distribution<int> pick(20000, 29999);
        std::string last;
        for (int attempt = 0; attempt < 20; ++attempt) {
            const auto port = static_cast<std::uint16_t>(pick(rng));
            if (!bindable(port) || !bindable(static_cast<std::uint16_t>(port + 10000))) continue;
            try {
                return std::make_unique<redis_server>(dir, "", args, port);
            } catch (const harness_error& e) {
                last = e.what();  // taken meanwhile: another port
            }
        }
        throw harness_error("no cluster node could start: " + last);
    }

    std::vector<std::unique_ptr<redis_server>> nodes_;
};

// The raw reply of one command, for resp::decode_reply.
inline std::string raw_reply(std::uint16_t port, const std::vector<std::string>& argv) {
    raw_conn c(port);
    if (!c.send(encode_command(argv))) throw harness_error("cannot send to " + std::to_string(port));
    return c.read_reply(5s);
}

// The slot map as node `port` sees it now (CLUSTER SHARDS).
inline cluster_map cluster_map_of(std::uint16_t port) {
    std::string why;
    auto map = cluster_map::from_shards(resp::decode_reply(raw_reply(port, {"CLUSTER", "SHARDS"})), "127.0.0.1", &why);
    if (!map) throw harness_error("CLUSTER SHARDS of " + std::to_string(port) + ": " + why);
    return *map;
}

// The port of the master owning `key`'s slot, as node `ask` sees it.
inline std::uint16_t owner_port(std::uint16_t ask, std::string_view key) {
    const auto* owner = cluster_map_of(ask).owner(resp::key_slot(key));
    if (owner == nullptr) throw harness_error("no owner for a key's slot");
    return owner->port;
}

// A master other than `port` (the last in the map's order).
inline std::uint16_t another_master(std::uint16_t ask, std::uint16_t port) {
    std::uint16_t other = 0;
    for (const auto* m : cluster_map_of(ask).masters())
        if (m->port != port) other = m->port;
    if (other == 0) throw harness_error("no master other than " + std::to_string(port));
    return other;
}

// The node ID of the node on `port` (CLUSTER MYID).
inline std::string node_id(std::uint16_t port) {
    client c(port);
    return c.cmd_reply({"CLUSTER", "MYID"}).str;
}

// Moves a slot with no keys in it from one master to another, as `redis-cli --cluster reshard`
// ends a migration: IMPORTING and MIGRATING, then the old owner learns the new one first, then
// the new owner, then every node. For a moment the two send each other's address (MOVED both
// ways), which herdguard must ride out.
inline void move_empty_slot(const redis_cluster& cluster, int slot, std::uint16_t from, std::uint16_t to) {
    const std::string s = std::to_string(slot), from_id = node_id(from), to_id = node_id(to);
    client src(from), dst(to);
    const auto must = [](const std::string& reply, const char* what) {
        if (reply != "+OK") throw harness_error(std::string("CLUSTER SETSLOT ") + what + ": " + reply);
    };
    must(dst.cmd({"CLUSTER", "SETSLOT", s, "IMPORTING", from_id}), "IMPORTING");
    must(src.cmd({"CLUSTER", "SETSLOT", s, "MIGRATING", to_id}), "MIGRATING");
    must(src.cmd({"CLUSTER", "SETSLOT", s, "NODE", to_id}), "NODE (old owner)");
    must(dst.cmd({"CLUSTER", "SETSLOT", s, "NODE", to_id}), "NODE (new owner)");
    for (std::size_t i = 0; i < cluster.size(); ++i) {
        client n(cluster.port(i));
        n.cmd({"CLUSTER", "SETSLOT", s, "NODE", to_id});
    }
}

// `count` keys "<prefix><n>" whose slots each master owns: one list per master, in the order
// of the masters' ports.
inline std::vector<std::vector<std::string>> keys_per_master(std::uint16_t ask, const std::string& prefix,
                                                             std::size_t count) {
    const auto map = cluster_map_of(ask);
    auto masters = map.masters();
    std::sort(masters.begin(), masters.end(), [](auto* a, auto* b) { return a->port < b->port; });
    std::vector<std::vector<std::string>> out(masters.size());
    for (std::size_t n = 0; n < 100000; ++n) {
        std::string key = prefix + std::to_string(n);
        const auto* owner = map.owner(resp::key_slot(key));
        for (std::size_t m = 0; m < masters.size(); ++m)
            if (owner == masters[m] && out[m].size() < count) out[m].push_back(key);
        if (std::all_of(out.begin(), out.end(), [&](auto& v) { return v.size() == count; })) break;
    }
    return out;
}

// A herdguard config for the cluster: every node a seed, `more` appended (routes, say).
inline std::string cluster_config(const redis_cluster& cluster, const std::string& more = {},
                                  const std::string& command_timeout = "3s") {
    std::string seeds;
    for (std::size_t i = 0; i < cluster.size(); ++i)
        seeds += (i ? ", " : "") + std::string("127.0.0.1:") + std::to_string(cluster.port(i));
    return "redis:\n  command_timeout: " + command_timeout + "\n  cluster:\n    seeds: [" + seeds +
           "]\n    refresh_interval: 2s\n    max_redirects: 5\n" + more;
}

// A herdguard in front of the cluster, once it has learned the map (a keyed command works).
inline std::unique_ptr<herdguard_proc> cluster_proxy(const temp_dir& dir, const redis_cluster& cluster,
                                                     const std::string& more = {}, int threads = 2) {
    herdguard_options opts;
    opts.threads = threads;
    opts.config_yaml = cluster_config(cluster, more);
    opts.admin = "auto";
    auto p = std::make_unique<herdguard_proc>(dir, 0, opts);
    const bool learned = eventually(
        [&] {
            client c(p->port());
            return c.cmd({"SET", "herdguard-test:ready", "1"}) == "+OK";
        },
        10s, 50ms);
    if (!learned) {
        client c(p->port());
        throw harness_error("herdguard never learned the cluster's map: " +
                            c.cmd({"SET", "herdguard-test:ready", "1"}) + "\nlog:\n" + p->log_tail());
    }
    return p;
}

}  // namespace herdguard::test
