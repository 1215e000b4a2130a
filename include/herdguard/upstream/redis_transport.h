// Reaching Redis: resolve and connect (TCP or a unix socket), then the TLS handshake with SNI and
// certificate verification when redis.tls is on. The bytes that follow (herdguard's handshake,
// the pipeline) are the connection's business (redis_connection.h); this part knows sockets only.
//
// Deadline: the owner bounds connect() from outside. When its deadline fires it sets
// `attempt.timed_out` and calls close(), which makes the pending step fail; connect() then names
// the timeout as the reason. stop() ends it for good (no further endpoint is tried).
#pragma once

#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "herdguard/config/config.h"
#include "herdguard/tls/tls_stream.h"

namespace herdguard {

class redis_transport {
public:
    struct attempt {
        bool timed_out = false;  // the owner's deadline fired (and closed the socket)
        bool done = false;       // the attempt is over: a late deadline must not touch anything
    };

    // `tls`: the redis.tls context, or nullptr for plain TCP. Not owned.
    redis_transport(asio::any_io_executor ex, const redis_config& cfg, asio::ssl::context* tls);

    // "" once connected (and TLS-established), else the reason. Each call starts a new
    // connection (and a new TLS session); the previous one must be closed.
    asio::awaitable<std::string> connect(const attempt& a);
    // This end's address as Redis shows it in CLIENT LIST (ip:port, [ip]:port for IPv6); "" for a
    // unix socket or when unknown.
    std::string local_address();
    std::string timeout_text() const;

    tls_stream& stream() { return stream_; }
    void close();
    void stop();  // close, and never connect again

private:
    asio::any_io_executor ex_;
    const redis_config& cfg_;
    asio::ssl::context* tls_;
    tls_stream stream_;
    bool stopped_ = false;
};

}  // namespace herdguard
