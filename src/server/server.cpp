#include "herdguard/server/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <system_error>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "herdguard/admin/admin_server.h"
#include "herdguard/herd/l1_tracking.h"
#include "herdguard/server/client_directory_sync.h"
#include "herdguard/server/session.h"
#include "herdguard/upstream/cluster_backend.h"
#include "herdguard/upstream/cluster_link.h"
#include "herdguard/upstream/cluster_watch.h"
#include "herdguard/upstream/redis_connection.h"
#include "herdguard/upstream/shared_connections.h"

namespace herdguard {

// The worker's Redis side: its shared connections, handed to sessions and the herd engine as
// backends, and the private connections sessions open. Here, so that what includes worker.h
// (the session) knows backends only, never a redis_connection.
namespace {

std::unique_ptr<cluster_backend> make_cluster_backend(worker& w, bool resp3) {
    if (!w.server.cluster) return nullptr;
    return std::make_unique<cluster_backend>(w.ctx.get_executor(), w.server.cfg, w.server.cluster, w.stats,
                                             &w.server.registry, w.server.tls.redis.get(), resp3);
}

}  // namespace

worker::worker(server_state& s, std::size_t i)
    : server(s),
      index(i),
      shared(std::make_unique<shared_connections>()),
      cluster(make_cluster_backend(*this, false)),
      herd{ctx, memo, *http, cluster ? static_cast<backend&>(*cluster) : *shared} {}

worker::~worker() = default;

backend& worker::session_backend(int protocol) {
    if (cluster) {
        if (protocol != 3) return *cluster;
        if (!cluster_resp3) {
            cluster_resp3 = make_cluster_backend(*this, true);
            cluster_resp3_published.store(cluster_resp3.get(), std::memory_order_release);
        }
        return *cluster_resp3;
    }
    if (protocol != 3) return shared->pick();
    if (!shared_resp3) {
        shared_resp3 = std::make_unique<shared_connections>();
        for (int i = 0; i < server.cfg.redis.connections_per_thread; ++i) {
            auto c = std::make_shared<redis_connection>(ctx.get_executor(), server.cfg.redis,
                                                        redis_connection::mode::shared, stats, &server.registry,
                                                        server.tls.redis.get(), /*resp3=*/true);
            shared_resp3->add(c);
            c->start();
        }
        shared_resp3_published.store(shared_resp3.get(), std::memory_order_release);
    }
    return shared_resp3->pick();
}

std::shared_ptr<client_link> worker::open_client_link(int protocol) {
    if (cluster) return std::make_shared<cluster_link>(static_cast<cluster_backend&>(session_backend(protocol)));
    return std::make_shared<redis_connection>(ctx.get_executor(), server.cfg.redis, redis_connection::mode::private_,
                                              stats, &server.registry, server.tls.redis.get(), protocol == 3);
}

// Once a second, on the worker's own thread: its sampled reads of the last second go to the
// board (HERDGUARD HOTKEYS, /metrics) and its summary starts afresh. Ends with the io_context.
asio::awaitable<void> publish_hot_keys(worker& w) {
    asio::steady_timer timer(w.ctx);
    while (true) {
        timer.expires_after(std::chrono::seconds(1));
        auto [ec] = co_await timer.async_wait(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        w.server.hot_keys.publish(w.index, w.hot.summary().top(hot_key_sampler::capacity));
        w.hot.summary().clear();
        // L1's `admit: hot` reads the merged rates; one worker brings them once a second.
        if (w.index == 0 && w.server.herd.l1_configured())
            w.server.herd.set_hot_keys(w.server.hot_keys.top(hot_key_sampler::capacity));
    }
}

std::vector<counter_value> server_state::summed_counters() const {
    std::vector<const worker_stats*> stats;
    for (const auto* w : workers) stats.push_back(&w->stats);
    return sum_counters(stats);
}

stats_source::redis_links server_state::shared_redis_links() const {
    redis_links links;
    for (const auto* w : workers) {
        for (const auto& c : w->shared->all()) {
            ++links.total;
            if (c->is_up()) ++links.up;
        }
        // The RESP3 ones, once a RESP3 client has made the worker open them.
        if (const auto* resp3 = w->shared_resp3_published.load(std::memory_order_acquire)) {
            for (const auto& c : resp3->all()) {
                ++links.total;
                if (c->is_up()) ++links.up;
            }
        }
    }
    for (const auto* w : workers) {
        const cluster_backend* both[] = {w->cluster.get(), w->cluster_resp3_published.load(std::memory_order_acquire)};
        for (const cluster_backend* b : both) {
            if (b == nullptr) continue;
            const auto n = b->links();
            links.total += n.total;
            links.up += n.up;
        }
    }
    return links;
}

bool server_state::redis_ready() const {
    if (!cluster) return stats_source::redis_ready();
    return cluster->has_map() && cluster->last_error().empty();
}

stats_source::cluster_map_state server_state::cluster_map() const {
    cluster_map_state state;
    if (!cluster) return state;
    state.enabled = true;
    state.version = cluster->version();
    state.refreshes = cluster->refreshes();
    if (const auto map = cluster->current()) state.masters = map->masters().size();
    state.last_error = cluster->last_error();
    return state;
}

using boost::system::error_code;
using acceptor_type = asio::basic_socket_acceptor<asio::generic::stream_protocol>;

// The plain listener (listen) and the TLS one (tls.listen), as Redis's port and tls-port; either
// may be off. They share the round-robin over workers.
struct server::acceptor_impl {
    explicit acceptor_impl(asio::io_context& ctx) : acceptor(ctx), tls_acceptor(ctx) {}
    acceptor_type acceptor;
    acceptor_type tls_acceptor;
    std::size_t next_worker = 0;

    void close() {
        error_code ignored;
        acceptor.close(ignored);
        tls_acceptor.close(ignored);
    }
};

server::server(const config& cfg) : cfg_(cfg), state_(cfg) {
    // Before anything listens: a certificate that does not load is a startup error.
    auto contexts = make_tls_contexts(cfg);
    if (auto* error = std::get_if<config_error>(&contexts)) throw std::runtime_error(error->message);
    state_.tls = std::move(std::get<tls_contexts>(contexts));
    use_cluster_key_names(cfg.redis.cluster.enabled());
    // Before the workers, whose cluster backends read it. It runs on the acceptor's thread: a
    // lookup is rare and must not wait behind a busy worker.
    if (cfg.redis.cluster.enabled())
        state_.cluster = std::make_shared<cluster_watch>(accept_ctx_.get_executor(), cfg, cluster_stats_,
                                                         state_.tls.redis.get());
    for (int i = 0; i < cfg.threads; ++i) {
        workers_.push_back(std::make_unique<worker>(state_, i));
        state_.workers.push_back(workers_.back().get());
    }
    acceptor_ = std::make_unique<acceptor_impl>(accept_ctx_);
    // Made here, before any other thread can reach it (SIGHUP: reload_routes), and started by
    // run(). Always made: it stays idle until a route has l1 (a SIGHUP may add one).
    worker& first = *workers_.front();
    l1_tracking_ = std::make_shared<l1_tracking>(first.ctx.get_executor(), state_.herd,
                                                 [&first] { return first.open_client_link(3); });
    state_.clients_sync = std::make_shared<client_directory_sync>(
        first.ctx.get_executor(), [&first]() -> backend& { return first.session_backend(2); },
        [&first] { return first.open_client_link(2); }, state_.clients, state_.registry, cfg_.redis.cluster.enabled());
}

server::~server() {
    stop();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    // Its timer belongs to accept_ctx_, which goes before state_: let go of it first.
    state_.cluster.reset();
    // The same for the client directory's sync, whose timer is worker 0's (workers_ go first).
    state_.clients_sync.reset();
}

namespace {

void bind_listener(acceptor_type& acceptor, const address& addr) {
    if (addr.is_unix) {
        ::unlink(addr.host.c_str());  // a stale socket file from a previous run
        asio::local::stream_protocol::endpoint ep(addr.host);
        acceptor.open(ep.protocol());
        acceptor.bind(ep);
    } else {
        auto ip = asio::ip::make_address(addr.host);
        asio::ip::tcp::endpoint ep(ip, addr.port);
        acceptor.open(asio::generic::stream_protocol(ep.protocol().family(), IPPROTO_TCP));
        acceptor.set_option(asio::socket_base::reuse_address(true));
        acceptor.bind(ep);
    }
    acceptor.listen(asio::socket_base::max_listen_connections);
}

// `tls`: the context for sessions accepted here, or nullptr on the plain listener.
asio::awaitable<void> accept_loop(acceptor_type& acceptor, const address& listen, asio::ssl::context* tls,
                                  std::vector<std::unique_ptr<worker>>& workers, server_state& state,
                                  std::size_t& next_worker) {
    const bool tcp = !listen.is_unix;
    while (acceptor.is_open()) {
        worker& w = *workers[next_worker];
        next_worker = (next_worker + 1) % workers.size();
        error_code ec;
        // The socket is created on the worker's context: all its I/O runs on that thread.
        stream_socket socket(w.ctx);
        co_await acceptor.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
            // EMFILE and friends: log, back off briefly so we don't spin, keep serving.
            if (std::uint64_t suppressed = 0; state.client_log.allow(suppressed))
                spdlog::warn("accept failed: {} ({} similar lines suppressed)", ec.message(), suppressed);
            asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(50));
            co_await t.async_wait(asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        if (tcp) socket.set_option(asio::ip::tcp::no_delay(true), ec);
        auto clients = state.connected_clients.fetch_add(1, std::memory_order_relaxed) + 1;
        if (clients > state.cfg.limits.max_clients) {
            state.connected_clients.fetch_sub(1, std::memory_order_relaxed);
            w.stats.clients_rejected.add();
            if (std::uint64_t suppressed = 0; state.client_log.allow(suppressed))
                spdlog::warn("client refused: limits.max_clients ({}) reached ({} similar lines suppressed)",
                             state.cfg.limits.max_clients, suppressed);
            // As Redis: tell the client why, then close. A blocking write on a fresh socket of a
            // few bytes cannot stall (the send buffer is empty). A TLS client could not read it
            // before a handshake, which a refused client does not get: it is just closed.
            static constexpr std::string_view msg = "-ERR max number of clients reached\r\n";
            if (!tls) asio::write(socket, asio::buffer(msg), ec);
            socket.close(ec);
            continue;
        }
        w.stats.connections_accepted.add();
        asio::post(w.ctx, [s = std::move(socket), &w, tls]() mutable {
            std::make_shared<session>(std::move(s), w, tls)->start();
        });
    }
}

}  // namespace

void server::run() {
    auto bind = [](acceptor_type& acceptor, const address& addr) {
        try {
            bind_listener(acceptor, addr);
        } catch (const boost::system::system_error& e) {
            throw std::runtime_error("cannot listen on " + addr.to_string() + ": " + e.code().message());
        }
    };
    if (cfg_.listen_enabled) bind(acceptor_->acceptor, cfg_.listen);
    if (cfg_.tls.enabled()) bind(acceptor_->tls_acceptor, *cfg_.tls.listen);
    std::string listening = cfg_.listen_enabled ? cfg_.listen.to_string() : std::string();
    if (cfg_.tls.enabled())
        listening += (listening.empty() ? "" : " and ") + cfg_.tls.listen->to_string() + " (TLS)";
    const std::string redis = cfg_.redis.cluster.enabled()
                                  ? fmt::format("the cluster of {} seed{}", cfg_.redis.cluster.seeds.size(),
                                                cfg_.redis.cluster.seeds.size() == 1 ? "" : "s")
                                  : "redis " + cfg_.redis.addr.to_string();
    spdlog::info("herdguard listening on {} -> {}{} ({} thread{}, {} route{})", listening, redis,
                 cfg_.redis.tls.enabled ? " (TLS)" : "", cfg_.threads,
                 cfg_.threads == 1 ? "" : "s", cfg_.routes.size(), cfg_.routes.size() == 1 ? "" : "s");
    if (cfg_.redis.tls.enabled && !cfg_.redis.tls.verify)
        spdlog::warn("redis.tls.verify is false: Redis's certificate is not checked (no protection "
                     "against a man in the middle)");

    if (state_.cluster) state_.cluster->start();
    for (auto& w : workers_) {
        for (int i = 0; i < cfg_.redis.connections_per_thread && !state_.cluster; ++i) {
            auto c = std::make_shared<redis_connection>(w->ctx.get_executor(), cfg_.redis,
                                                        redis_connection::mode::shared, w->stats, &state_.registry,
                                                        state_.tls.redis.get());
            w->shared->add(c);
            c->start();
        }
        asio::co_spawn(w->ctx, publish_hot_keys(*w), asio::detached);
        if (w->index == 0) {
            l1_tracking_->start();
            state_.clients_sync->start();
        }
        threads_.emplace_back([&ctx = w->ctx] {
            auto guard = asio::make_work_guard(ctx);
            ctx.run();
        });
    }
    if (cfg_.admin.enabled) {
        admin_ = std::make_unique<admin_server>(accept_ctx_, cfg_.admin, state_);
        admin_->start();
        admin_ptr_.store(admin_.get());
    }
    if (cfg_.listen_enabled)
        asio::co_spawn(accept_ctx_,
                       accept_loop(acceptor_->acceptor, cfg_.listen, nullptr, workers_, state_, acceptor_->next_worker),
                       asio::detached);
    if (cfg_.tls.enabled())
        asio::co_spawn(accept_ctx_,
                       accept_loop(acceptor_->tls_acceptor, *cfg_.tls.listen, state_.tls.clients.get(), workers_,
                                   state_, acceptor_->next_worker),
                       asio::detached);
    accept_ctx_.run();
    for (auto& t : threads_)
        if (t.joinable()) t.join();
    threads_.clear();
}

bool server::drain(duration timeout) {
    if (auto* admin = admin_ptr_.load()) admin->set_draining(true);
    asio::post(accept_ctx_, [this] { acceptor_->close(); });
    spdlog::info("draining: not ready, not accepting; waiting up to {} for requests and loads in flight",
                 format_duration(timeout));
    // A bounded poll: the three conditions live on different threads, and shutdown is rare.
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    bool clean = false;
    while (std::chrono::steady_clock::now() < deadline) {
        if (state_.busy_sessions.load() == 0 && state_.writes_in_flight.load() == 0 && state_.herd.idle()) {
            clean = true;
            break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (clean) spdlog::info("drained: nothing in flight");
    else spdlog::warn("shutdown_timeout reached with requests or loads still in flight");
    stop();
    return clean;
}

std::size_t server::reload_routes(const std::vector<route_config>& routes) {
    const std::size_t kept = state_.herd.reload(routes);
    if (l1_tracking_) l1_tracking_->routes_changed();
    return kept;
}

void server::stop() {
    asio::post(accept_ctx_, [this] {
        acceptor_->close();
        if (admin_) admin_->stop();
        if (cfg_.listen_enabled && cfg_.listen.is_unix) ::unlink(cfg_.listen.host.c_str());
        if (cfg_.tls.enabled() && cfg_.tls.listen->is_unix) ::unlink(cfg_.tls.listen->host.c_str());
    });
    if (l1_tracking_) l1_tracking_->stop();
    if (state_.clients_sync) state_.clients_sync->stop();
    if (state_.cluster) state_.cluster->stop();
    for (auto& w : workers_) w->ctx.stop();
    accept_ctx_.stop();
}

}  // namespace herdguard
