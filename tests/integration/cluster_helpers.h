// A real Redis Cluster for the tests (issue 13): six `redis-server --cluster-enabled yes` on free
// loopback ports (three masters, three replicas, cluster-node-timeout 1000), joined by
// `redis-cli --cluster create ... --cluster-replicas 1 --cluster-yes`, ready when every node
// says cluster_state:ok. Stopped by PID with the rest of the test's processes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "harness.h"

namespace herdguard::test {

class redis_cluster {
  public:
    explicit redis_cluster(const temp_dir& dir) {
        const std::vector<std::string> cluster_args{"--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
                                                    "--cluster-node-timeout", "1000"};
        for (int i = 0; i < 6; ++i) nodes_.push_back(std::make_unique<redis_server>(dir, "", cluster_args));
        std::vector<std::string> create{"redis-cli", "--cluster", "create"};
        for (const auto& n : nodes_) create.push_back("127.0.0.1:" + std::to_string(n->port()));
        create.insert(create.end(), {"--cluster-replicas", "1", "--cluster-yes"});
        const auto r = run_command(create, 30s);
        if (r.exit_code != 0) throw harness_error("redis-cli --cluster create failed: " + r.out + r.err);
        for (const auto& n : nodes_) {
            const bool ok = eventually(
                [&] {
                    client c(n->port());
                    return c.cmd_reply({"CLUSTER", "INFO"}).str.find("cluster_state:ok") != std::string::npos;
                },
                15s, 50ms);
            if (!ok) throw harness_error("node " + std::to_string(n->port()) + " never reached cluster_state:ok");
        }
    }
    std::uint16_t port(std::size_t i) const { return nodes_.at(i)->port(); }
    std::size_t size() const { return nodes_.size(); }
    redis_server& node(std::size_t i) { return *nodes_.at(i); }

  private:
    std::vector<std::unique_ptr<redis_server>> nodes_;
};

}  // namespace herdguard::test
