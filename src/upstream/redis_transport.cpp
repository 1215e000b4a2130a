#include "herdguard/upstream/redis_transport.h"

#include <cstring>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "herdguard/tls/tls_context.h"

namespace herdguard {

using boost::system::error_code;

redis_transport::redis_transport(asio::any_io_executor ex, const redis_config& cfg, asio::ssl::context* tls)
    : ex_(ex), cfg_(cfg), tls_(tls), stream_(stream_socket(ex)) {}

void redis_transport::close() {
    error_code ignored;
    stream_.close(ignored);
}

void redis_transport::stop() {
    stopped_ = true;
    close();
}

std::string redis_transport::timeout_text() const {
    return "connect timeout after " + std::to_string(cfg_.connect_timeout.count()) + "ms";
}

asio::awaitable<std::string> redis_transport::connect(const attempt& a) {
    error_code ec;
    auto& socket = stream_.socket();
    stream_.disable_tls();  // the previous connection's TLS session, if any, is over
    if (cfg_.addr.is_unix) {
        asio::local::stream_protocol::endpoint ep(cfg_.addr.host);
        co_await socket.async_connect(ep, asio::redirect_error(asio::use_awaitable, ec));
    } else {
        asio::ip::tcp::resolver resolver(ex_);
        auto results = co_await resolver.async_resolve(cfg_.addr.host, std::to_string(cfg_.addr.port),
                                                       asio::redirect_error(asio::use_awaitable, ec));
        if (ec) co_return a.timed_out ? timeout_text() : "resolve " + cfg_.addr.host + ": " + ec.message();
        ec = asio::error::host_not_found;
        for (const auto& entry : results) {
            if (a.timed_out || stopped_) break;
            error_code close_ec;
            socket.close(close_ec);
            co_await socket.async_connect(entry.endpoint(), asio::redirect_error(asio::use_awaitable, ec));
            if (!ec) break;
        }
        if (!ec) socket.set_option(asio::ip::tcp::no_delay(true), ec);
    }
    if (a.timed_out) co_return timeout_text();
    if (ec) co_return ec.message();
    if (stopped_) co_return "stopped";

    if (tls_ != nullptr) {
        // Still under the connect deadline: a server that accepts but never answers the
        // handshake (plain Redis on a TLS address, a stuck peer) times out like a connect.
        stream_.enable_tls(*tls_);
        set_redis_peer_name(stream_.native_handle(), cfg_);
        co_await stream_.async_handshake(/*as_server=*/false, asio::redirect_error(asio::use_awaitable, ec));
        if (a.timed_out) co_return timeout_text() + " (in the TLS handshake)";
        if (ec) co_return "TLS handshake failed: " + tls_handshake_error(ec, stream_.native_handle());
        if (stopped_) co_return "stopped";
    }
    co_return "";
}

std::string redis_transport::local_address() {
    if (cfg_.addr.is_unix) return "";
    error_code ec;
    auto ep = stream_.socket().local_endpoint(ec);
    if (ec) return "";
    auto* sa = reinterpret_cast<const sockaddr*>(ep.data());
    if (sa->sa_family != AF_INET && sa->sa_family != AF_INET6) return "";
    asio::ip::tcp::endpoint tcp_ep;
    std::memcpy(tcp_ep.data(), ep.data(), ep.size());
    tcp_ep.resize(ep.size());
    return address{false, tcp_ep.address().to_string(), tcp_ep.port()}.to_string();
}

}  // namespace herdguard
