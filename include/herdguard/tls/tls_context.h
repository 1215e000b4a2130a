// The TLS settings as OpenSSL contexts: one for the client listener (tls.*), one for the
// connections to Redis (redis.tls.*). Built once at startup and by --check, so a certificate
// that does not load or a key that does not match is reported before anything listens.
//
// Sharing: every worker creates its streams from the same two contexts, which OpenSSL allows
// from several threads at once. The certificates' lazily computed caches are filled here, before
// the workers start, so concurrent handshakes only read them (see cache_certificate_extensions).
#pragma once

#include <memory>
#include <string>
#include <variant>

#include <boost/system/error_code.hpp>

#include "herdguard/config/config.h"

namespace boost::asio::ssl {
class context;
}  // namespace boost::asio::ssl
struct ssl_st;  // OpenSSL's SSL

namespace herdguard {

struct tls_contexts {
    tls_contexts();
    ~tls_contexts();
    tls_contexts(tls_contexts&&) noexcept;
    tls_contexts& operator=(tls_contexts&&) noexcept;

    std::unique_ptr<boost::asio::ssl::context> clients;  // null without tls.listen
    std::unique_ptr<boost::asio::ssl::context> redis;    // null without redis.tls.enabled
};

// Loads every certificate, key and CA file the config names. An error reads
// "SOURCE: field: problem", naming the file and OpenSSL's reason.
std::variant<tls_contexts, config_error> make_tls_contexts(const config& cfg);

// For one connection to Redis, before its handshake: SNI (for a host name; never for an IP
// address, which RFC 6066 forbids) and, when redis.tls.verify is on, the name or IP address the
// certificate must carry: redis.tls.server_name, else the host of redis.address.
void set_redis_peer_name(ssl_st* ssl, const redis_config& cfg);

// Why a handshake failed, for logs and "redis unavailable (...)": the certificate verification
// result when that is what failed ("certificate verify failed: hostname mismatch"), else the
// error's own text.
std::string tls_handshake_error(const boost::system::error_code& ec, ssl_st* ssl);

}  // namespace herdguard
