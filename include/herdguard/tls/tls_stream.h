// A connected socket that speaks TLS or not, decided per connection at run time: client
// sessions (plain listener or tls.listen) and Redis connections (redis.tls) read and write
// through it without knowing which.
//
// The plain path is the hot path and must stay what it was before TLS existed: the same socket
// operations with the caller's own handlers (and their handler memory), inlined as before. So the
// TLS path is kept out of line, in src/tls/tls_stream.cpp, behind type-erased handlers
// (asio::any_completion_handler): the translation units that use this header never instantiate
// Asio's SSL templates. When they did, GCC stopped inlining the reactor's start_op and the
// handler-work constructors into the plain path (+8% instructions per pass-through request under
// callgrind). A TLS connection pays one type-erased handler per operation, next to the cost of
// the encryption itself.
//
// That handler is allocated from the heap, never from the caller's handler memory: when an
// io_context is destroyed with a TLS read pending (shutdown), Asio destroys the type-erased
// handler and only then frees its block through the handler's allocator. If the handler held the
// last reference to its session, the session and its handler memory are gone by then, and the
// free wrote into freed memory (TSan reported the heap-use-after-free in the TLS handshake burst
// test; issue 9). The plain path frees an operation's block before it destroys the handler, so it
// keeps the caller's handler memory. A heap block per TLS operation is small next to its crypto.
//
// The TLS layer is created by enable_tls(), once per connection (and again per reconnect: an SSL
// session cannot be restarted). One read and one write may be pending at once, as on the plain
// socket. Closing or shutting down the socket ends pending TLS operations too.
#pragma once

#include <cstddef>
#include <memory>
#include <type_traits>
#include <utility>

#include <boost/asio/any_completion_handler.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/generic/stream_protocol.hpp>

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl
struct ssl_st;  // OpenSSL's SSL

#if defined(__GNUC__)
#define HERDGUARD_FORCE_INLINE [[gnu::always_inline]] inline
#else
#define HERDGUARD_FORCE_INLINE inline
#endif

namespace herdguard {

namespace asio = boost::asio;
using stream_socket = asio::generic::stream_protocol::socket;

// An SSL stream over a socket the tls_stream keeps owning; defined in tls_stream.cpp.
struct tls_layer;
struct tls_layer_deleter {
    void operator()(tls_layer* layer) const;
};

using io_handler = asio::any_completion_handler<void(boost::system::error_code, std::size_t)>;
using handshake_handler = asio::any_completion_handler<void(boost::system::error_code)>;

// The out-of-line TLS operations (tls_stream.cpp).
std::unique_ptr<tls_layer, tls_layer_deleter> make_tls_layer(stream_socket& socket, asio::ssl::context& ctx);
ssl_st* tls_native_handle(tls_layer& layer);
void tls_async_handshake(tls_layer& layer, bool as_server, handshake_handler handler);
void tls_async_read_some(tls_layer& layer, asio::mutable_buffer buffer, io_handler handler);
void tls_async_write_some(tls_layer& layer, asio::const_buffer buffer, io_handler handler);
// A peer that closed without close_notify (Redis never sends one): over TLS, the same event as
// EOF on plain TCP.
bool is_tls_truncation(const boost::system::error_code& ec);

class tls_stream {
public:
    using executor_type = stream_socket::executor_type;

    explicit tls_stream(stream_socket socket) : socket_(std::move(socket)) {}
    // Not movable: the TLS layer refers to socket_.
    tls_stream(const tls_stream&) = delete;
    tls_stream& operator=(const tls_stream&) = delete;

    // Starts a new TLS layer over the (connected) socket; the caller then runs async_handshake.
    // Replaces a previous one (a reconnect).
    void enable_tls(asio::ssl::context& ctx) { tls_ = make_tls_layer(socket_, ctx); }
    // Back to plain (before a reconnect whose TLS layer is not set up yet).
    void disable_tls() { tls_.reset(); }
    bool is_tls() const { return tls_ != nullptr; }
    // OpenSSL's handle of the TLS layer (SNI, verification results); only while is_tls().
    ssl_st* native_handle() { return tls_native_handle(*tls_); }

    stream_socket& socket() { return socket_; }
    executor_type get_executor() { return socket_.get_executor(); }
    void close(boost::system::error_code& ec) { socket_.close(ec); }
    void shutdown(asio::socket_base::shutdown_type what, boost::system::error_code& ec) {
        socket_.shutdown(what, ec);
    }

    // Only while is_tls().
    template <class Token>
    auto async_handshake(bool as_server, Token&& token) {
        return asio::async_initiate<Token, void(boost::system::error_code)>(
            [this, as_server](auto handler) { tls_async_handshake(*tls_, as_server, on_heap(std::move(handler))); },
            token);
    }

    // AsyncReadStream / AsyncWriteStream. Plain: straight to the socket. TLS: the first buffer of
    // the sequence (a *_some operation may transfer less than asked), out of line. Forced inline:
    // one more call level on the plain path was enough for GCC to stop inlining the reactor's
    // start_op into it (callgrind: +5% instructions per pass-through request).
    template <class Buffers, class Token>
    HERDGUARD_FORCE_INLINE auto async_read_some(const Buffers& buffers, Token&& token) {
        if (!tls_) return socket_.async_read_some(buffers, std::forward<Token>(token));
        return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, asio::mutable_buffer b) { tls_async_read_some(*tls_, b, on_heap(std::move(handler))); },
            token, asio::mutable_buffer(*asio::buffer_sequence_begin(buffers)));
    }
    template <class Buffers, class Token>
    HERDGUARD_FORCE_INLINE auto async_write_some(const Buffers& buffers, Token&& token) {
        if (!tls_) return socket_.async_write_some(buffers, std::forward<Token>(token));
        return asio::async_initiate<Token, void(boost::system::error_code, std::size_t)>(
            [this](auto handler, asio::const_buffer b) { tls_async_write_some(*tls_, b, on_heap(std::move(handler))); },
            token, asio::const_buffer(*asio::buffer_sequence_begin(buffers)));
    }

private:
    // The TLS path's handlers are allocated from the heap (see the top of this file for why).
    // A handler that already names an allocator (the sessions' handler memory) has it replaced
    // rather than wrapped: Boost 1.81's bind_allocator cannot wrap an allocator_binder.
    template <class Handler>
    static auto on_heap(Handler handler) {
        if constexpr (is_allocator_binder<Handler>::value)
            return asio::bind_allocator(std::allocator<void>(), std::move(handler.get()));
        else
            return asio::bind_allocator(std::allocator<void>(), std::move(handler));
    }
    template <class T>
    struct is_allocator_binder : std::false_type {};
    template <class T, class Allocator>
    struct is_allocator_binder<asio::allocator_binder<T, Allocator>> : std::true_type {};

    stream_socket socket_;
    std::unique_ptr<tls_layer, tls_layer_deleter> tls_;
};

}  // namespace herdguard
