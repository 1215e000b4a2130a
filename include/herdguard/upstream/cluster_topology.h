// A Redis Cluster's slot map, read from `CLUSTER SHARDS` (Redis 7) or, from older servers,
// `CLUSTER SLOTS` (issue 13). Pure: it takes the decoded reply, so it is unit-tested with the
// replies a real cluster gave, and the cluster backend decides when to ask and whom.
//
// Only masters own slots for herdguard (it reads and writes through masters); replicas are kept
// for the record (a failover promotes one). A node is named by its endpoint as the cluster
// announces it (`endpoint`, else `ip`), with its port; "?" (unknown endpoint) or an empty one
// means "the address you asked", which the caller passes in.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "herdguard/resp/key_slot.h"
#include "herdguard/resp/reply_value.h"

namespace herdguard {

struct cluster_node {
    std::string id;
    std::string host;
    std::uint16_t port = 0;
    bool master = false;
    bool healthy = true;  // CLUSTER SHARDS' health: "online" (CLUSTER SLOTS does not say)
    std::string address() const { return host + ":" + std::to_string(port); }
    friend bool operator==(const cluster_node&, const cluster_node&) = default;
};

class cluster_map {
public:
    static constexpr std::int16_t no_owner = -1;
    // The master owning `slot`, or nullptr (an unassigned slot).
    const cluster_node* owner(std::uint16_t slot) const {
        const auto i = owner_[slot % resp::slot_count];
        return i == no_owner ? nullptr : &nodes_[static_cast<std::size_t>(i)];
    }
    bool covers_all() const;
    const std::vector<cluster_node>& nodes() const { return nodes_; }  // masters first, then replicas
    std::vector<const cluster_node*> masters() const;

    // `asked`: the host of the node that gave the reply, for endpoints announced as "?" or "".
    static std::optional<cluster_map> from_shards(const resp::reply_value& reply, const std::string& asked,
                                                  std::string* why = nullptr);
    static std::optional<cluster_map> from_slots(const resp::reply_value& reply, const std::string& asked,
                                                 std::string* why = nullptr);

private:
    std::size_t add_node(cluster_node n);
    std::vector<cluster_node> nodes_;
    std::array<std::int16_t, resp::slot_count> owner_ = filled();
    static constexpr std::array<std::int16_t, resp::slot_count> filled() {
        std::array<std::int16_t, resp::slot_count> a{};
        a.fill(no_owner);
        return a;
    }
};

}  // namespace herdguard
