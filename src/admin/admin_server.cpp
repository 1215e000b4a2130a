#include "herdguard/admin/admin_server.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <spdlog/spdlog.h>

#include "herdguard/metrics/prometheus.h"
#include "herdguard/metrics/stats_source.h"

namespace herdguard {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {
constexpr int max_connections = 64;
constexpr auto io_deadline = std::chrono::seconds(5);
}  // namespace

struct admin_server::impl {
    impl(asio::io_context& c, const admin_config& a, const stats_source& s, std::atomic<bool>& d)
        : ctx(c), listen(a.listen), hot_keys_in_metrics(a.hot_keys_in_metrics), state(s), draining(d), acceptor(c) {}
    asio::io_context& ctx;
    address listen;
    bool hot_keys_in_metrics;
    const stats_source& state;
    std::atomic<bool>& draining;
    tcp::acceptor acceptor;
    int connections = 0;

    bool ready() const {
        if (draining.load(std::memory_order_relaxed)) return false;
        return state.redis_ready();
    }

    asio::awaitable<void> serve(tcp::socket socket) {
        ++connections;
        beast::tcp_stream stream(std::move(socket));
        beast::flat_buffer buffer;
        while (true) {
            http::request<http::empty_body> req;
            stream.expires_after(io_deadline);
            auto [ec, n] = co_await http::async_read(stream, buffer, req, asio::as_tuple(asio::use_awaitable));
            if (ec) break;
            http::response<http::string_body> res{http::status::ok, req.version()};
            res.keep_alive(req.keep_alive());
            std::string_view target = req.target();
            target = target.substr(0, target.find('?'));
            if (req.method() != http::verb::get && req.method() != http::verb::head) {
                res.result(http::status::method_not_allowed);
                res.body() = "only GET\n";
            } else if (target == "/metrics") {
                res.set(http::field::content_type, "text/plain; version=0.0.4");
                res.body() = prometheus_text(state, {.hot_keys = hot_keys_in_metrics});
            } else if (target == "/healthz") {
                res.body() = "ok\n";
            } else if (target == "/readyz") {
                if (ready()) {
                    res.body() = "ready\n";
                } else {
                    res.result(http::status::service_unavailable);
                    res.body() = draining.load() ? "draining\n" : "redis unavailable\n";
                }
            } else {
                res.result(http::status::not_found);
                res.body() = "not found: try /metrics, /healthz, /readyz\n";
            }
            res.prepare_payload();
            stream.expires_after(io_deadline);
            auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
            if (wec || !res.keep_alive()) break;
        }
        beast::error_code ignored;
        stream.socket().shutdown(tcp::socket::shutdown_send, ignored);
        --connections;
    }

    asio::awaitable<void> accept_loop() {
        while (acceptor.is_open()) {
            auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
            if (ec) {
                if (!acceptor.is_open()) co_return;
                continue;
            }
            if (connections >= max_connections) continue;  // socket closes as it goes out of scope
            asio::co_spawn(ctx, serve(std::move(socket)), asio::detached);
        }
    }
};

admin_server::admin_server(asio::io_context& ctx, const admin_config& cfg, const stats_source& state)
    : impl_(std::make_unique<impl>(ctx, cfg, state, draining_)) {}

admin_server::~admin_server() = default;

void admin_server::start() {
    try {
        tcp::endpoint ep(asio::ip::make_address(impl_->listen.host), impl_->listen.port);
        impl_->acceptor.open(ep.protocol());
        impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
        impl_->acceptor.bind(ep);
        impl_->acceptor.listen();
    } catch (const boost::system::system_error& e) {
        throw std::runtime_error("cannot listen on admin address " + impl_->listen.to_string() + ": " +
                                 e.code().message());
    }
    spdlog::info("admin listening on http://{} (/metrics, /healthz, /readyz)", impl_->listen.to_string());
    asio::co_spawn(impl_->ctx, impl_->accept_loop(), asio::detached);
}

void admin_server::stop() {
    boost::system::error_code ignored;
    impl_->acceptor.close(ignored);
}

}  // namespace herdguard
