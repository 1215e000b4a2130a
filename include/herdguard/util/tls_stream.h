// A connected socket that speaks TLS or not, decided per connection at run time: client
// sessions (plain listener or tls.listen) and Redis connections (redis.tls) read and write
// through it without knowing which.
//
// Why a run-time branch and not two instantiations of every session and connection: the plain
// path stays exactly what it was (the same socket operations and handlers, so the same handler
// memory and no allocation per read or write), and the code reads once. The TLS layer is a
// separate object created by enable_tls(), once per connection (and again per reconnect: an SSL
// session cannot be restarted).
//
// Compile time: Asio's SSL templates are heavy. This header only names asio::ssl::stream; the
// class is a template so that nothing here is instantiated until a translation unit that
// includes <boost/asio/ssl/stream.hpp> uses it (session.cpp and redis_connection.cpp). Other
// users of session.h / redis_connection.h pay for neither the OpenSSL headers nor the templates.
//
// Concurrency: one read and one write may be pending at once (Asio's SSL stream supports that),
// as on the plain socket. Closing or shutting down the socket ends pending TLS operations too.
#pragma once

#include <memory>
#include <utility>

#include <boost/asio/async_result.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

namespace boost::asio::ssl {
template <typename Stream>
class stream;
class context;
}  // namespace boost::asio::ssl

namespace herdguard {

namespace asio = boost::asio;
using stream_socket = asio::generic::stream_protocol::socket;

template <class Socket>
class basic_tls_stream {
public:
    using executor_type = typename Socket::executor_type;
    using socket_type = Socket;
    // Over a reference: the socket stays ours, so close(), shutdown() and endpoints work the same
    // with and without TLS.
    using tls_type = asio::ssl::stream<Socket&>;

    explicit basic_tls_stream(Socket socket) : socket_(std::move(socket)) {}
    ~basic_tls_stream() = default;
    // Not movable: the TLS layer refers to socket_.
    basic_tls_stream(const basic_tls_stream&) = delete;
    basic_tls_stream& operator=(const basic_tls_stream&) = delete;

    // Starts a new TLS layer over the (connected) socket; the caller then runs the handshake on
    // tls(). Replaces a previous one (a reconnect).
    void enable_tls(asio::ssl::context& ctx) { tls_ = std::make_unique<tls_type>(socket_, ctx); }
    // Back to plain (before a reconnect whose TLS layer is not set up yet).
    void disable_tls() { tls_.reset(); }
    bool is_tls() const { return tls_ != nullptr; }
    tls_type& tls() { return *tls_; }

    Socket& socket() { return socket_; }
    executor_type get_executor() { return socket_.get_executor(); }
    void close(boost::system::error_code& ec) { socket_.close(ec); }
    void shutdown(asio::socket_base::shutdown_type what, boost::system::error_code& ec) {
        socket_.shutdown(what, ec);
    }

    // AsyncReadStream / AsyncWriteStream. A plain completion handler goes straight to the socket
    // (async_initiate adds nothing for one), keeping its associated allocator.
    template <class Buffers, class Token>
    auto async_read_some(const Buffers& buffers, Token&& token) {
        return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const Buffers& b) {
                if (tls_) tls_->async_read_some(b, std::move(handler));
                else socket_.async_read_some(b, std::move(handler));
            },
            token, buffers);
    }
    template <class Buffers, class Token>
    auto async_write_some(const Buffers& buffers, Token&& token) {
        return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, const Buffers& b) {
                if (tls_) tls_->async_write_some(b, std::move(handler));
                else socket_.async_write_some(b, std::move(handler));
            },
            token, buffers);
    }

private:
    Socket socket_;
    std::unique_ptr<tls_type> tls_;
};

using tls_stream = basic_tls_stream<stream_socket>;

}  // namespace herdguard
