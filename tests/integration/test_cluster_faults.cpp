// The cluster changing under load (issue 13): a manual failover, a master killed, 200 slots
// resharded, and a migration made by hand (ASK and TRYAGAIN). A cluster-unaware client goes on
// through herdguard; what it may see of each is asserted.
#include <catch2/catch.hpp>

#include <atomic>
#include <mutex>
#include <set>
#include <thread>

#include "cluster_helpers.h"

using namespace herdguard;
using namespace herdguard::test;

namespace {

using steady = std::chrono::steady_clock;

// SET then GET of the same key, from `threads` clients, over `keys`, until stopped; each error
// (or a GET that does not see the SET) is kept with its time and key. Paced at about a
// thousand operations a second per thread: the cluster's failure detection must not starve on
// two cores.
class cluster_load {
  public:
    struct error {
        steady::time_point at;
        std::string key;
        std::string text;
    };

    cluster_load(std::uint16_t port, std::vector<std::string> keys, int threads = 3) : keys_(std::move(keys)) {
        for (int t = 0; t < threads; ++t) threads_.emplace_back([this, port, t] { run(port, t); });
    }
    ~cluster_load() { stop(); }

    void stop() {
        stop_ = true;
        for (auto& t : threads_)
            if (t.joinable()) t.join();
    }
    std::uint64_t ops() const { return ops_.load(); }
    std::vector<error> errors() {
        std::lock_guard lock(mutex_);
        return errors_;
    }
    // Waits until `n` more operations have completed (bounded).
    bool advance(std::uint64_t n, milliseconds within = 20s) {
        const auto target = ops() + n;
        return eventually([&] { return ops() >= target; }, within, 10ms);
    }
    std::string describe() {
        std::lock_guard lock(mutex_);
        std::string out = std::to_string(errors_.size()) + " errors";
        for (std::size_t i = 0; i < errors_.size() && i < 5; ++i) out += "\n  " + errors_[i].key + ": " + errors_[i].text;
        return out;
    }

  private:
    void run(std::uint16_t port, int t) {
        auto c = std::make_unique<client>(port, 6s);
        for (std::uint64_t i = 0; !stop_; ++i) {
            const std::string& key = keys_[(t + i * threads_.size()) % keys_.size()];
            const std::string value = std::to_string(t) + ":" + std::to_string(i);
            std::string r = c->cmd({"SET", key, value});
            if (r == "+OK") {
                r = c->cmd({"GET", key});
                if (r != "$" + value) note(key, "GET after SET: " + r);
            } else {
                note(key, "SET: " + r);
            }
            if (!c->ok()) c = std::make_unique<client>(port, 6s);
            ops_.fetch_add(1);
            std::this_thread::sleep_for(1ms);  // pacing, not synchronisation
        }
    }
    void note(const std::string& key, std::string text) {
        std::lock_guard lock(mutex_);
        errors_.push_back({steady::now(), key, std::move(text)});
    }

    std::vector<std::string> keys_;
    std::vector<std::thread> threads_;
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> ops_{0};
    std::mutex mutex_;
    std::vector<error> errors_;
};

std::vector<std::string> flatten(const std::vector<std::vector<std::string>>& lists) {
    std::vector<std::string> out;
    for (const auto& l : lists) out.insert(out.end(), l.begin(), l.end());
    return out;
}

std::size_t index_of_port(const redis_cluster& cluster, std::uint16_t port) {
    for (std::size_t i = 0; i < cluster.size(); ++i)
        if (cluster.port(i) == port) return i;
    throw harness_error("no node on port " + std::to_string(port));
}

// The node replicating the master on `master_port` (ROLE: slave, its master's port).
std::size_t replica_of(const redis_cluster& cluster, std::uint16_t master_port) {
    for (std::size_t i = 0; i < cluster.size(); ++i) {
        client c(cluster.port(i));
        const auto role = c.cmd_reply({"ROLE"});
        if (!role.elements.empty() && role.elements[0].str == "slave" && role.elements.size() > 2 &&
            role.elements[2].integer == master_port)
            return i;
    }
    throw harness_error("no replica of " + std::to_string(master_port));
}

bool is_master(std::uint16_t port) {
    client c(port);
    const auto role = c.cmd_reply({"ROLE"});
    return !role.elements.empty() && role.elements[0].str == "master";
}


long long counter(std::uint16_t proxy_port, std::string_view name) { return herdguard_counter(proxy_port, name); }

// The harness's one route ("product:*") to `upstream`, as the routes part of a config.
std::string routes_to(const demo_upstream& upstream) {
    route_options route;
    route.upstream = upstream.url();
    const std::string full = herdguard_config(1, route);
    return full.substr(full.find("routes:"));
}

}  // namespace

TEST_CASE("cluster: CLUSTER FAILOVER under load costs the client nothing", "[integration][cluster][cluster-faults]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    auto proxy = cluster_proxy(dir, cluster);
    const auto per_master = keys_per_master(cluster.port(0), "f:", 10);
    cluster_load load(proxy->port(), flatten(per_master));
    REQUIRE(load.advance(300));

    const std::uint16_t old_master = owner_port(cluster.port(0), per_master[0][0]);
    const std::size_t replica = replica_of(cluster, old_master);
    client r(cluster.port(replica));
    REQUIRE(r.cmd({"CLUSTER", "FAILOVER"}) == "+OK");
    REQUIRE(eventually([&] { return is_master(cluster.port(replica)); }, 15s, 50ms));
    // Until herdguard has followed the new owner for the moved keys, then a while more.
    REQUIRE(eventually([&] { return owner_port(cluster.port(0), per_master[0][0]) == cluster.port(replica); }, 10s));
    REQUIRE(load.advance(1000));
    load.stop();
    INFO(load.describe());
    CHECK(load.errors().empty());
    CHECK(counter(proxy->port(), "cluster_moved") > 0);
}

TEST_CASE("cluster: kill -9 of a master under load fails only its keys, only until the failover",
          "[integration][cluster][cluster-faults]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    auto proxy = cluster_proxy(dir, cluster);
    const auto per_master = keys_per_master(cluster.port(0), "k9:", 10);
    const std::set<std::string> victim_keys(per_master[0].begin(), per_master[0].end());
    const std::uint16_t victim_port = owner_port(cluster.port(0), per_master[0][0]);
    const std::size_t survivor = index_of_port(cluster, owner_port(cluster.port(0), per_master[1][0]));
    const std::size_t replica = replica_of(cluster, victim_port);
    cluster_load load(proxy->port(), flatten(per_master));
    REQUIRE(load.advance(300));

    const auto killed_at = steady::now();
    cluster.node(index_of_port(cluster, victim_port)).kill9();
    REQUIRE(eventually([&] { return is_master(cluster.port(replica)); }, 20s, 50ms));
    REQUIRE(eventually([&] { return owner_port(cluster.port(survivor), per_master[0][0]) == cluster.port(replica); },
                       10s));
    // The victim's keys work again through herdguard.
    client c(proxy->port(), 6s);
    CHECK(eventually([&] { return c.cmd({"SET", per_master[0][0], "back"}) == "+OK"; }, 5s, 50ms));
    REQUIRE(load.advance(1000));
    load.stop();

    // cluster-node-timeout (1 s) + 3 s, from the kill.
    const auto allowed_until = killed_at + 1s + 3s;
    INFO(load.describe());
    for (const auto& e : load.errors()) {
        INFO(e.key << ": " << e.text << " at +"
                   << std::chrono::duration_cast<milliseconds>(e.at - killed_at).count() << " ms");
        CHECK(victim_keys.count(e.key) == 1);
        CHECK(e.at <= allowed_until);
    }
}

TEST_CASE("cluster: resharding 200 slots under load costs the client nothing", "[integration][cluster][cluster-faults]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    auto proxy = cluster_proxy(dir, cluster);
    const auto map = cluster_map_of(cluster.port(0));
    auto masters = map.masters();
    std::sort(masters.begin(), masters.end(), [](auto* a, auto* b) { return a->port < b->port; });
    const std::uint16_t from = masters[0]->port, to = masters[1]->port;
    // redis-cli moves the source's lowest slots first: the load's keys live there, with a few
    // thousand others, so the migration takes a while and meets the load.
    std::uint16_t first = 0;
    while (map.owner(first)->port != from) ++first;
    std::vector<std::string> moving;
    client direct(from);
    for (int n = 0; moving.size() < 3000 && n < 2000000; ++n) {
        std::string key = "rs:" + std::to_string(n);
        const auto slot = resp::key_slot(key);
        if (slot < first || slot >= first + 200 || map.owner(slot)->port != from) continue;
        moving.push_back(key);
    }
    REQUIRE(moving.size() == 3000);
    std::vector<std::vector<std::string>> seed;
    for (const auto& key : moving) seed.push_back({"SET", key, "seed"});
    const auto seeded = direct.pipeline(seed);
    REQUIRE(std::count(seeded.begin(), seeded.end(), "+OK") == static_cast<long>(moving.size()));
    std::vector<std::string> load_keys(moving.begin(), moving.begin() + 30);
    for (const auto& k : keys_per_master(cluster.port(0), "rsl:", 5)) load_keys.insert(load_keys.end(), k.begin(), k.end());
    cluster_load load(proxy->port(), load_keys);
    REQUIRE(load.advance(300));

    const auto r = run_command({"redis-cli", "--cluster", "reshard", "127.0.0.1:" + std::to_string(from),
                                "--cluster-from", node_id(from), "--cluster-to", node_id(to), "--cluster-slots", "200",
                                "--cluster-yes", "--cluster-pipeline", "20"},
                               120s);
    INFO(r.out << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(cluster_map_of(cluster.port(2)).owner(first)->port == to);
    REQUIRE(load.advance(1000));
    load.stop();
    INFO(load.describe());
    CHECK(load.errors().empty());
    CHECK(counter(proxy->port(), "cluster_moved") + counter(proxy->port(), "cluster_ask") > 0);
    // Every seeded key made it across and reads through herdguard.
    client c(proxy->port());
    CHECK(c.cmd({"GET", moving.back()}) == "$seed");
}

TEST_CASE("cluster: a migration by hand: ASK is followed, TRYAGAIN waited out, the herd path's scripts go along",
          "[integration][cluster][cluster-faults]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    demo_upstream upstream(dir, 50);
    const std::string routes = routes_to(upstream);
    auto proxy = cluster_proxy(dir, cluster, routes);
    client c(proxy->port(), 6s);

    const std::uint16_t slot = resp::key_slot("{m}");
    const std::uint16_t source = owner_port(cluster.port(0), "{m}");
    const std::uint16_t target = another_master(cluster.port(0), source);
    const std::string source_id = node_id(source), target_id = node_id(target);
    REQUIRE(c.cmd({"SET", "{m}a", "1"}) == "+OK");
    REQUIRE(c.cmd({"SET", "{m}b", "2"}) == "+OK");

    client src(source), dst(target);
    REQUIRE(dst.cmd({"CLUSTER", "SETSLOT", std::to_string(slot), "IMPORTING", source_id}) == "+OK");
    REQUIRE(src.cmd({"CLUSTER", "SETSLOT", std::to_string(slot), "MIGRATING", target_id}) == "+OK");
    REQUIRE(src.cmd({"MIGRATE", "127.0.0.1", std::to_string(target), "", "0", "5000", "KEYS", "{m}a"}) == "+OK");

    // ASK: the moved key is read from the target, the other from the source; a new key is
    // written on the target.
    CHECK(c.cmd({"GET", "{m}a"}) == "$1");
    CHECK(c.cmd({"GET", "{m}b"}) == "$2");
    CHECK(c.cmd({"SET", "{m}new", "n"}) == "+OK");
    CHECK(dst.cmd({"ASKING"}) == "+OK");
    CHECK(dst.cmd({"GET", "{m}new"}) == "$n");
    CHECK(counter(proxy->port(), "cluster_ask") >= 2);

    // TRYAGAIN: an MGET of the slot's two keys, one moved and one not; and the herd path's cold
    // read of a routed key in the slot, whose lease scripts touch four keys of it (the key, its
    // lock, negative and failure keys), none on the target yet. Both are retried until the
    // migration finishes (another thread ends it once herdguard has seen a TRYAGAIN), then
    // answered by the new owner.
    const std::string product = "product:{m}1";
    std::string herd_read;
    std::thread reader([&] {
        client r(proxy->port(), 6s);
        herd_read = r.cmd({"GET", product});
    });
    const auto retries_before = counter(proxy->port(), "cluster_retries");
    std::thread finish([&] {
        eventually([&] { return counter(proxy->port(), "cluster_retries") > retries_before; }, 5s, 5ms);
        client s(source), d(target);
        s.cmd({"MIGRATE", "127.0.0.1", std::to_string(target), "", "0", "5000", "KEYS", "{m}b"});
        for (std::size_t i = 0; i < cluster.size(); ++i) {
            client n(cluster.port(i));
            n.cmd({"CLUSTER", "SETSLOT", std::to_string(slot), "NODE", target_id});
        }
    });
    CHECK(c.cmd({"MGET", "{m}a", "{m}b"}) == "*[$1, $2]");
    reader.join();
    finish.join();
    INFO(proxy->log_tail());
    CHECK(herd_read.rfind("$", 0) == 0);
    CHECK(counter(proxy->port(), "cluster_retries") > retries_before);
    CHECK(c.cmd({"GET", "{m}b"}) == "$2");
    CHECK(c.cmd({"GET", product}).rfind("$", 0) == 0);
    CHECK(upstream.total() == 1);
}

TEST_CASE("cluster: a herd of 1000 on a cold routed key in each shard makes one load each",
          "[integration][cluster][cluster-herd]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    demo_upstream upstream(dir, 200);
    const std::string routes = routes_to(upstream);
    auto first = cluster_proxy(dir, cluster, routes);
    auto second = cluster_proxy(dir, cluster, routes);
    const auto per_master = keys_per_master(cluster.port(0), "product:", 1);
    crowd herd({first->port(), second->port()}, 1000);
    for (const auto& keys : per_master) {
        const auto& key = keys.front();
        const auto replies = herd.request_all({"GET", key}, 15s);
        std::size_t values = 0;
        for (const auto& r : replies) values += r.answered && r.text.rfind("$", 0) == 0;
        INFO(key << ": " << summarize(replies));
        CHECK(values == replies.size());
        CHECK(upstream.count("/products/" + key.substr(8)) == 1);
        // Its lock and value share the key's slot: the lock lived on the key's owner.
        client owner(owner_port(cluster.port(0), key));
        CHECK(owner.cmd({"EXISTS", key}) == ":1");
    }
}

TEST_CASE("cluster: a shard channel's subscriber stays subscribed when the channel's slot moves",
          "[integration][cluster][cluster-faults]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    auto proxy = cluster_proxy(dir, cluster);
    const std::string channel = "news{s}";
    const std::uint16_t slot = resp::key_slot(channel);
    const std::uint16_t source = owner_port(cluster.port(0), channel);
    const std::uint16_t target = another_master(cluster.port(0), source);

    client sub(proxy->port(), 5s);
    CHECK(sub.cmd({"SSUBSCRIBE", channel}) == "*[$ssubscribe, $" + channel + ", :1]");
    client pub(proxy->port(), 5s);
    CHECK(pub.cmd({"SPUBLISH", channel, "before"}) == ":1");
    CHECK(sub.get_reply() == "*[$smessage, $" + channel + ", $before]");

    // The slot (no keys in it) moves to another master; its old owner tells the subscriber with a
    // sunsubscribe push that herdguard keeps to itself while it subscribes at the new owner. The
    // old owner learns first: for a moment the two nodes send each other's address (MOVED both
    // ways), which herdguard must ride out.
    move_empty_slot(cluster, slot, source, target);
    const bool resubscribed = eventually([&] { return pub.cmd({"SPUBLISH", channel, "probe"}) == ":1"; }, 10s, 50ms);
    INFO("source " << source << ", target " << target << "; herdguard's log:\n" << proxy->log_tail());
    REQUIRE(resubscribed);
    CHECK(pub.cmd({"SPUBLISH", channel, "after"}) == ":1");
    CHECK(sub.get_reply() == "*[$smessage, $" + channel + ", $probe]");
    CHECK(sub.get_reply() == "*[$smessage, $" + channel + ", $after]");
    // And it can still leave, where the channel lives now.
    CHECK(sub.cmd({"SUNSUBSCRIBE", channel}) == "*[$sunsubscribe, $" + channel + ", :0]");
}

// A blocking command outside a transaction is alone on its connection, so a redirect means it did
// not run. herdguard sends it again where the cluster says, and the client never sees the MOVED
// or the ASK. Redis itself unblocks a client whose slot moves away, with a MOVED: the client here
// ends up waiting at the new owner. A command pipelined behind it still answers after it.
TEST_CASE("cluster: a blocking command the cluster redirects is sent again, never answered MOVED or ASK",
          "[integration][cluster][cluster-faults]") {
    temp_dir dir;
    redis_cluster cluster(dir);
    auto proxy = cluster_proxy(dir, cluster);
    const std::string key = "queue{b}";
    const std::string slot = std::to_string(resp::key_slot(key));
    const std::uint16_t first = owner_port(cluster.port(0), key);
    const std::uint16_t second = another_master(cluster.port(0), first);
    const std::string first_id = node_id(first), second_id = node_id(second);
    const auto waiting_on = [](std::uint16_t port) {
        client n(port);
        return n.cmd({"INFO", "clients"}).find("blocked_clients:1\r") != std::string::npos;
    };

    // MOVED: BLPOP waits on the owner; the (empty) slot moves to another master.
    client waiter(proxy->port(), 15s);
    waiter.append({"BLPOP", key, "10"});
    waiter.append({"ECHO", "after"});
    REQUIRE(waiter.flush());
    REQUIRE(eventually([&] { return waiting_on(first); }, 5s));
    const auto moved_before = counter(proxy->port(), "cluster_moved");
    move_empty_slot(cluster, resp::key_slot(key), first, second);
    INFO("herdguard's log:\n" << proxy->log_tail());
    REQUIRE(eventually([&] { return waiting_on(second); }, 5s));
    {
        client owner(second);
        CHECK(owner.cmd({"RPUSH", key, "moved"}) == ":1");
    }
    CHECK(waiter.get_reply() == "*[$" + key + ", $moved]");
    CHECK(waiter.get_reply() == "$after");
    CHECK(counter(proxy->port(), "cluster_moved") > moved_before);

    // ASK: the slot migrates back; the list is on neither node, so the old owner sends the
    // command to the importing one, where it waits (ASKING first).
    {
        client from(second), to(first);
        REQUIRE(to.cmd({"CLUSTER", "SETSLOT", slot, "IMPORTING", second_id}) == "+OK");
        REQUIRE(from.cmd({"CLUSTER", "SETSLOT", slot, "MIGRATING", first_id}) == "+OK");
    }
    const auto ask_before = counter(proxy->port(), "cluster_ask");
    waiter.append({"BLPOP", key, "10"});
    REQUIRE(waiter.flush());
    REQUIRE(eventually([&] { return waiting_on(first); }, 5s));
    {
        client importing(first);
        CHECK(importing.cmd({"ASKING"}) == "+OK");
        CHECK(importing.cmd({"RPUSH", key, "asked"}) == ":1");
    }
    CHECK(waiter.get_reply() == "*[$" + key + ", $asked]");
    CHECK(counter(proxy->port(), "cluster_ask") > ask_before);
}
