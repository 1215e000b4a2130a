#include "herdguard/upstream/cluster_watch.h"

#include <algorithm>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include "herdguard/resp/reply_value.h"
#include "herdguard/resp/reply_view.h"
#include "herdguard/util/random.h"

namespace herdguard {

namespace {

using boost::system::error_code;

// One reply awaited by a coroutine: the connection calls it, the coroutine waits on the timer,
// which the reply cancels. A reply given synchronously (a refused send) is seen before waiting.
struct awaited_reply final : reply_handler {
    explicit awaited_reply(asio::any_io_executor ex) : done(ex, asio::steady_timer::time_point::max()) {}
    void on_reply(std::string_view raw) override { finish(raw); }
    void on_failure(std::string_view raw) override { finish(raw); }
    void finish(std::string_view raw) {
        reply = std::string(raw);
        done.cancel();
    }
    asio::awaitable<std::string> get() {
        if (!reply) {
            error_code ec;
            co_await done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        co_return reply.value_or("-ERR herdguard: no reply\r\n");
    }
    asio::steady_timer done;
    std::optional<std::string> reply;
};

// "127.0.0.1:7000-7000 5461 slots, ..." of each master: what a log line and a change check need.
std::string describe(const cluster_map& map) {
    std::string out;
    for (const auto* m : map.masters()) {
        std::size_t slots = 0;
        for (std::uint32_t s = 0; s < resp::slot_count; ++s)
            if (map.owner(static_cast<std::uint16_t>(s)) == m) ++slots;
        out += fmt::format("{}{} ({} slots)", out.empty() ? "" : ", ", m->address(), slots);
    }
    return out;
}

// Same owners for every slot, same node list: nothing to publish.
bool same_map(const cluster_map& a, const cluster_map& b) {
    if (a.nodes() != b.nodes()) return false;
    for (std::uint32_t s = 0; s < resp::slot_count; ++s) {
        const auto* x = a.owner(static_cast<std::uint16_t>(s));
        const auto* y = b.owner(static_cast<std::uint16_t>(s));
        if ((x == nullptr) != (y == nullptr) || (x != nullptr && x->address() != y->address())) return false;
    }
    return true;
}

}  // namespace

cluster_watch::cluster_watch(asio::any_io_executor ex, const config& cfg, worker_stats& stats, asio::ssl::context* tls)
    : ex_(ex), cfg_(cfg), stats_(stats), tls_(tls), wait_(ex) {}

redis_config cluster_watch::node_config(const redis_config& base, const std::string& host, std::uint16_t port) {
    redis_config c = base;
    c.addr = address{false, host, port};
    c.database = 0;  // a cluster has no other
    return c;
}

void cluster_watch::start() {
    asio::co_spawn(ex_, [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void cluster_watch::stop() {
    stopped_.store(true);
    asio::post(ex_, [self = shared_from_this()] { self->wait_.cancel(); });
}

void cluster_watch::refresh_soon(std::string_view why) {
    if (wanted_.exchange(true)) return;  // one is coming already
    spdlog::debug("cluster map refresh wanted: {}", why);
    asio::post(ex_, [self = shared_from_this()] { self->wait_.cancel(); });
}

std::shared_ptr<const cluster_map> cluster_watch::current() const {
    std::lock_guard lock(mutex_);
    return map_;
}

std::string cluster_watch::last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
}

asio::awaitable<void> cluster_watch::run() {
    auto self = shared_from_this();
    while (!stopped_.load()) {
        const auto began = std::chrono::steady_clock::now();
        wanted_.store(false);  // what is asked from now on wants the next one
        co_await refresh();
        if (stopped_.load()) break;
        // Until the map is known, try again at the minimum interval, not the periodic one.
        const auto next = !has_map() ? began + min_interval : began + cfg_.redis.cluster.refresh_interval;
        if (!wanted_.load()) {
            wait_.expires_at(next);
            error_code ec;
            co_await wait_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
        if (stopped_.load()) break;
        if (std::chrono::steady_clock::now() < began + min_interval) {  // woken early: not a storm
            wait_.expires_at(began + min_interval);
            error_code ec;
            co_await wait_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        }
    }
}

std::vector<address> cluster_watch::candidates() const {
    std::vector<address> out = cfg_.redis.cluster.seeds;
    if (auto map = current()) {
        for (const auto& n : map->nodes()) {
            address a{false, n.host, n.port};
            if (std::find(out.begin(), out.end(), a) == out.end()) out.push_back(std::move(a));
        }
    }
    // Shuffled (Fisher-Yates on the thread's generator), so one dead node is not always first.
    for (std::size_t i = out.size(); i > 1; --i) std::swap(out[i - 1], out[thread_random() % i]);
    return out;
}

asio::awaitable<void> cluster_watch::refresh() {
    refreshes_.fetch_add(1, std::memory_order_relaxed);
    std::optional<cluster_map> partial;  // a map with unassigned slots: better than none
    std::string errors;
    for (const auto& node : candidates()) {
        if (stopped_.load()) co_return;
        std::string why;
        auto map = co_await ask(node, why);
        if (map && map->covers_all()) {
            publish(std::move(*map));
            co_return;
        }
        if (map && !partial) partial = std::move(map);
        if (!why.empty()) errors += fmt::format("{}{}: {}", errors.empty() ? "" : "; ", node.to_string(), why);
    }
    if (partial) {
        publish(std::move(*partial));
        co_return;
    }
    {
        std::lock_guard lock(mutex_);
        last_error_ = errors.empty() ? "no node to ask" : errors;
    }
    if (errors != logged_error_) {
        spdlog::warn("cluster map: no node answered ({})", errors);
        logged_error_ = errors;
    }
}

asio::awaitable<std::optional<cluster_map>> cluster_watch::ask(const address& node, std::string& why) {
    // The handlers first: the guard's stop() fails what is still waiting, so they must outlive it.
    awaited_reply shards(ex_), slots(ex_);
    auto conn = std::make_shared<redis_connection>(ex_, node_config(cfg_.redis, node.host, node.port),
                                                   redis_connection::mode::private_, stats_, nullptr, tls_);
    conn->start();
    struct stop_on_exit {
        std::shared_ptr<redis_connection>& c;
        ~stop_on_exit() { c->stop(); }
    } guard{conn};

    conn->send_command({"CLUSTER", "SHARDS"}, &shards);
    std::string raw = co_await shards.get();
    if (resp::reply_view(raw).is_error() && conn->current_state() == redis_connection::state::ready) {
        // Older than Redis 7: no SHARDS.
        conn->send_command({"CLUSTER", "SLOTS"}, &slots);
        raw = co_await slots.get();
        co_return cluster_map::from_slots(resp::decode_reply(raw), node.host, &why);
    }
    co_return cluster_map::from_shards(resp::decode_reply(raw), node.host, &why);
}

void cluster_watch::publish(cluster_map map) {
    auto now = std::make_shared<const cluster_map>(std::move(map));
    std::shared_ptr<const cluster_map> before;
    {
        std::lock_guard lock(mutex_);
        before = map_;
        last_error_.clear();
        if (before && same_map(*before, *now)) return;
        map_ = now;
    }
    logged_error_.clear();
    version_.fetch_add(1, std::memory_order_acq_rel);
    spdlog::info("cluster map {}: {}{}", before ? "changed" : "learned", describe(*now),
                 now->covers_all() ? "" : " (some slots have no master)");
}

}  // namespace herdguard
