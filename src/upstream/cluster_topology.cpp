#include "herdguard/upstream/cluster_topology.h"

#include <algorithm>

namespace herdguard {

namespace {

using resp::reply_type;
using resp::reply_value;

std::optional<cluster_map> failed(std::string* why, std::string text) {
    if (why != nullptr) *why = std::move(text);
    return std::nullopt;
}

// A RESP2 map is a flat array: key, value, key, value...
const reply_value* field(const reply_value& map, std::string_view name) {
    for (std::size_t i = 0; i + 1 < map.elements.size(); i += 2)
        if (map.elements[i].str == name) return &map.elements[i + 1];
    return nullptr;
}

std::string host_of(const reply_value* endpoint, const reply_value* ip, const std::string& asked) {
    for (const auto* v : {endpoint, ip})
        if (v != nullptr && v->type != reply_type::null && !v->str.empty() && v->str != "?") return v->str;
    return asked;
}

bool valid_port(std::int64_t p) { return p > 0 && p <= 65535; }

}  // namespace

bool cluster_map::covers_all() const {
    return std::none_of(owner_.begin(), owner_.end(), [](std::int16_t o) { return o == no_owner; });
}

std::vector<const cluster_node*> cluster_map::masters() const {
    std::vector<const cluster_node*> out;
    for (const auto& n : nodes_)
        if (n.master) out.push_back(&n);
    return out;
}

std::size_t cluster_map::add_node(cluster_node n) {
    for (std::size_t i = 0; i < nodes_.size(); ++i)
        if (nodes_[i].address() == n.address()) {
            nodes_[i].master = nodes_[i].master || n.master;
            return i;
        }
    nodes_.push_back(std::move(n));
    return nodes_.size() - 1;
}

// CLUSTER SHARDS: [ {slots: [start, end, ...], nodes: [ {id, port, ip, endpoint, role, health,
// ...}, ... ]}, ... ], each map a flat array in RESP2.
std::optional<cluster_map> cluster_map::from_shards(const reply_value& reply, const std::string& asked,
                                                    std::string* why) {
    if (reply.is_error()) return failed(why, "CLUSTER SHARDS: " + reply.str);
    if (reply.type != reply_type::array) return failed(why, "CLUSTER SHARDS: not an array");
    cluster_map map;
    std::vector<const reply_value*> replicas;
    for (const auto& shard : reply.elements) {
        const auto* slots = field(shard, "slots");
        const auto* nodes = field(shard, "nodes");
        if (slots == nullptr || nodes == nullptr || slots->elements.size() % 2 != 0)
            return failed(why, "CLUSTER SHARDS: a shard without slots or nodes");
        std::optional<std::size_t> master;
        for (const auto& node : nodes->elements) {
            const auto* role = field(node, "role");
            const auto* port = field(node, "port");
            if (role == nullptr || port == nullptr || !valid_port(port->integer))
                return failed(why, "CLUSTER SHARDS: a node without role or port");
            cluster_node n;
            if (const auto* id = field(node, "id")) n.id = id->str;
            n.host = host_of(field(node, "endpoint"), field(node, "ip"), asked);
            n.port = static_cast<std::uint16_t>(port->integer);
            n.master = role->str == "master";
            if (const auto* health = field(node, "health")) n.healthy = health->str == "online";
            if (n.master && !master) master = map.add_node(std::move(n));
            else if (!n.master) replicas.push_back(&node);
        }
        if (!master) {
            if (slots->elements.empty()) continue;  // a shard of replicas only, owning nothing
            return failed(why, "CLUSTER SHARDS: a shard with slots and no master");
        }
        for (std::size_t i = 0; i < slots->elements.size(); i += 2) {
            const auto lo = slots->elements[i].integer, hi = slots->elements[i + 1].integer;
            if (lo < 0 || hi < lo || hi >= resp::slot_count)
                return failed(why, "CLUSTER SHARDS: a slot range out of 0..16383");
            for (auto s = lo; s <= hi; ++s) map.owner_[static_cast<std::size_t>(s)] = static_cast<std::int16_t>(*master);
        }
    }
    for (const auto* node : replicas) {
        cluster_node n;
        if (const auto* id = field(*node, "id")) n.id = id->str;
        n.host = host_of(field(*node, "endpoint"), field(*node, "ip"), asked);
        n.port = static_cast<std::uint16_t>(field(*node, "port")->integer);
        if (const auto* health = field(*node, "health")) n.healthy = health->str == "online";
        map.add_node(std::move(n));
    }
    return map;
}

// CLUSTER SLOTS: [ [start, end, [host, port, id, ...] (the master), [host, port, id, ...]...], ... ]
std::optional<cluster_map> cluster_map::from_slots(const reply_value& reply, const std::string& asked,
                                                   std::string* why) {
    if (reply.is_error()) return failed(why, "CLUSTER SLOTS: " + reply.str);
    if (reply.type != reply_type::array) return failed(why, "CLUSTER SLOTS: not an array");
    cluster_map map;
    std::vector<cluster_node> replicas;
    for (const auto& range : reply.elements) {
        if (range.elements.size() < 3) return failed(why, "CLUSTER SLOTS: a range without a master");
        const auto lo = range.elements[0].integer, hi = range.elements[1].integer;
        if (lo < 0 || hi < lo || hi >= resp::slot_count)
            return failed(why, "CLUSTER SLOTS: a slot range out of 0..16383");
        std::optional<std::size_t> master;
        for (std::size_t i = 2; i < range.elements.size(); ++i) {
            const auto& e = range.elements[i].elements;
            if (e.size() < 2 || !valid_port(e[1].integer))
                return failed(why, "CLUSTER SLOTS: a node without host and port");
            cluster_node n;
            n.host = host_of(&e[0], nullptr, asked);
            n.port = static_cast<std::uint16_t>(e[1].integer);
            if (e.size() > 2) n.id = e[2].str;
            n.master = i == 2;
            if (n.master) master = map.add_node(std::move(n));
            else replicas.push_back(std::move(n));
        }
        for (auto s = lo; s <= hi; ++s) map.owner_[static_cast<std::size_t>(s)] = static_cast<std::int16_t>(*master);
    }
    for (auto& r : replicas) map.add_node(std::move(r));
    return map;
}

}  // namespace herdguard
