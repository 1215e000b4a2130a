// The TLS side of tls_stream: the only translation unit that instantiates Asio's SSL stream
// templates (see tls_stream.h for why).
#include "herdguard/tls/tls_stream.h"

#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>

namespace herdguard {

struct tls_layer {
    tls_layer(stream_socket& socket, asio::ssl::context& ctx) : stream(socket, ctx) {}
    asio::ssl::stream<stream_socket&> stream;
};

void tls_layer_deleter::operator()(tls_layer* layer) const { delete layer; }

std::unique_ptr<tls_layer, tls_layer_deleter> make_tls_layer(stream_socket& socket, asio::ssl::context& ctx) {
    return std::unique_ptr<tls_layer, tls_layer_deleter>(new tls_layer(socket, ctx));
}

ssl_st* tls_native_handle(tls_layer& layer) { return layer.stream.native_handle(); }

void tls_async_handshake(tls_layer& layer, bool as_server, handshake_handler handler) {
    layer.stream.async_handshake(as_server ? asio::ssl::stream_base::server : asio::ssl::stream_base::client,
                                 std::move(handler));
}

void tls_async_read_some(tls_layer& layer, asio::mutable_buffer buffer, io_handler handler) {
    layer.stream.async_read_some(buffer, std::move(handler));
}

void tls_async_write_some(tls_layer& layer, asio::const_buffer buffer, io_handler handler) {
    layer.stream.async_write_some(buffer, std::move(handler));
}

bool is_tls_truncation(const boost::system::error_code& ec) { return ec == asio::ssl::error::stream_truncated; }

}  // namespace herdguard
