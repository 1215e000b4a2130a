#include "herdguard/tls/tls_context.h"

#include <arpa/inet.h>

#include <boost/asio/error.hpp>
#include <boost/asio/ssl/context.hpp>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace herdguard {

namespace ssl = boost::asio::ssl;
using boost::system::error_code;

tls_contexts::tls_contexts() = default;
tls_contexts::~tls_contexts() = default;
tls_contexts::tls_contexts(tls_contexts&&) noexcept = default;
tls_contexts& tls_contexts::operator=(tls_contexts&&) noexcept = default;

namespace {

struct setup_error {
    std::string field;
    std::string problem;
};

[[noreturn]] void fail(std::string field, std::string problem) {
    throw setup_error{std::move(field), std::move(problem)};
}

// OpenSSL's reason ("no start line (PEM routines)"), or errno's for a file it could not open.
std::string reason(const error_code& ec) { return ec.message(); }

void load_certificate(ssl::context& ctx, const std::string& cert, const std::string& key,
                      const std::string& prefix) {
    error_code ec;
    ctx.use_certificate_chain_file(cert, ec);
    if (ec) fail(prefix + "cert_file", fmt::format("cannot load certificate \"{}\": {}", cert, reason(ec)));
    ctx.use_private_key_file(key, ssl::context::pem, ec);
    // OpenSSL checks the pair while loading the key; its "key values mismatch" is worth spelling out.
    bool mismatch = ec && ec.category() == boost::asio::error::get_ssl_category() &&
                    ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH;
    if (ec && !mismatch)
        fail(prefix + "key_file", fmt::format("cannot load private key \"{}\": {}", key, reason(ec)));
    if (mismatch || SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
        fail(prefix + "key_file",
             fmt::format("\"{}\" is not the key of the certificate in {}cert_file (\"{}\")", key, prefix, cert));
    }
}

void load_ca(ssl::context& ctx, const std::string& ca, const std::string& field) {
    error_code ec;
    ctx.load_verify_file(ca, ec);
    if (ec) fail(field, fmt::format("cannot load CA certificates \"{}\": {}", ca, reason(ec)));
}

// TLS 1.2 and 1.3 only, as Redis's default tls-protocols.
void set_protocols(ssl::context& ctx) {
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
}

// Fills every shared certificate's extension cache now, on the main thread, before any worker
// handshakes. OpenSSL computes it on a certificate's first use (ossl_x509v3_cache_extensions):
// the first handshake decodes the CA's key identifiers under the certificate's lock, and any
// later one skips the lock after an acquire load of a "cached" flag. That is correct, but the
// acquire/release pair is inside libcrypto, which TSan does not instrument, while the writes and
// reads go through its memcpy/memcmp interceptors: two workers meeting one CA for the first time
// at once produced a data-race report (issue 9; docs/RELIABILITY.md, "TLS handshakes on several
// workers"). Computed here, every handshake only reads, and TSan keeps watching the rest of
// OpenSSL's shared state rather than a suppression hiding it.
void cache_certificate_extensions(ssl::context& ctx) {
    SSL_CTX* native = ctx.native_handle();
    // X509_check_purpose with id -1 computes the cache and checks nothing else.
    auto warm = [](X509* x) {
        if (x != nullptr) X509_check_purpose(x, -1, 0);
    };
    STACK_OF(X509_OBJECT)* trusted = X509_STORE_get0_objects(SSL_CTX_get_cert_store(native));
    for (int i = 0; i < sk_X509_OBJECT_num(trusted); ++i) warm(X509_OBJECT_get0_X509(sk_X509_OBJECT_value(trusted, i)));
    warm(SSL_CTX_get0_certificate(native));
    STACK_OF(X509)* chain = nullptr;
    if (SSL_CTX_get0_chain_certs(native, &chain) == 1)
        for (int i = 0; i < sk_X509_num(chain); ++i) warm(sk_X509_value(chain, i));
}

std::unique_ptr<ssl::context> make_client_side(const tls_config& t) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    set_protocols(*ctx);
    load_certificate(*ctx, t.cert_file, t.key_file, "tls.");
    if (!t.ca_file.empty()) {
        load_ca(*ctx, t.ca_file, "tls.ca_file");
        // Tells clients which CAs we accept, so one with several certificates picks the right one.
        if (STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(t.ca_file.c_str()))
            SSL_CTX_set_client_CA_list(ctx->native_handle(), names);
    }
    switch (t.auth_clients) {
        case tls_auth_clients::yes:
            ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
            break;
        case tls_auth_clients::optional:
            ctx->set_verify_mode(ssl::verify_peer);
            break;
        case tls_auth_clients::no:
            ctx->set_verify_mode(ssl::verify_none);
            break;
    }
    // Without a session id context, OpenSSL refuses to resume a session that was verified
    // against client certificates (the handshake fails instead of running in full).
    static constexpr unsigned char id[] = "herdguard";
    SSL_CTX_set_session_id_context(ctx->native_handle(), id, sizeof id - 1);
    cache_certificate_extensions(*ctx);
    return ctx;
}

std::unique_ptr<ssl::context> make_redis_side(const redis_tls_config& t) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    set_protocols(*ctx);
    if (t.verify) {
        ctx->set_verify_mode(ssl::verify_peer);
        if (!t.ca_file.empty()) {
            load_ca(*ctx, t.ca_file, "redis.tls.ca_file");
        } else {
            error_code ec;
            ctx->set_default_verify_paths(ec);
            if (ec) fail("redis.tls.ca_file", "not set, and the system's CA certificates cannot be loaded: " + reason(ec));
        }
    } else {
        ctx->set_verify_mode(ssl::verify_none);
    }
    if (!t.cert_file.empty()) load_certificate(*ctx, t.cert_file, t.key_file, "redis.tls.");
    cache_certificate_extensions(*ctx);
    return ctx;
}

bool is_ip_address(const std::string& host) {
    unsigned char buf[sizeof(in6_addr)];
    return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

}  // namespace

std::variant<tls_contexts, config_error> make_tls_contexts(const config& cfg) {
    tls_contexts out;
    try {
        if (cfg.tls.enabled()) out.clients = make_client_side(cfg.tls);
        if (cfg.redis.tls.enabled) out.redis = make_redis_side(cfg.redis.tls);
    } catch (const setup_error& e) {
        return config_error{
            fmt::format("{}: {}: {}", cfg.source.empty() ? "config" : cfg.source, e.field, e.problem)};
    } catch (const std::exception& e) {  // allocation failures inside OpenSSL surface as system_error
        return config_error{fmt::format("{}: tls: {}", cfg.source.empty() ? "config" : cfg.source, e.what())};
    }
    return out;
}

void set_redis_peer_name(ssl_st* ssl, const redis_config& cfg) {
    const std::string& name = cfg.tls.server_name.empty() ? cfg.addr.host : cfg.tls.server_name;
    const bool ip = is_ip_address(name);
    if (!ip) SSL_set_tlsext_host_name(ssl, name.c_str());
    if (!cfg.tls.verify) return;
    // Checked by OpenSSL during the handshake, as part of the chain verification: a mismatch
    // fails the handshake with X509_V_ERR_HOSTNAME_MISMATCH / IP_ADDRESS_MISMATCH.
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (ip) {
        X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str());
    } else {
        X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
    }
}

std::string tls_handshake_error(const error_code& ec, ssl_st* ssl) {
    if (ssl != nullptr) {
        long result = SSL_get_verify_result(ssl);
        if (result != X509_V_OK)
            return fmt::format("certificate verify failed: {}", X509_verify_cert_error_string(result));
    }
    if (ec == boost::asio::error::eof) return "connection closed during the TLS handshake (is the peer speaking TLS?)";
    return ec.message();
}

}  // namespace herdguard
