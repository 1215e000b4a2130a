// A real Redis Cluster for the tests (issue 13): six `redis-server --cluster-enabled yes` on free
// loopback ports (three masters, three replicas, cluster-node-timeout 1000), joined by
// `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, ready when every node
// says cluster_state:ok and knows the three replicas. Stopped by PID with the rest of the test's processes.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <random>
#include <string>
#include <vector>

#include "harness.h"

namespace herdguard::test {

class redis_cluster {
  public:
    explicit redis_cluster(const temp_dir& dir) {
        const std::vector<std::string> cluster_args{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                                    "--cluster-node-timeout", "1000"};
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
                    return replicas == 3;
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

}  // namespace herdguard::test
