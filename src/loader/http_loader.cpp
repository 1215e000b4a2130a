#include "herdguard/loader/http_loader.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>

namespace herdguard {

namespace beast = boost::beast;
namespace http = beast::http;
namespace asio = boost::asio;
using boost::system::error_code;

struct http_loader::pool {
    std::vector<std::unique_ptr<beast::tcp_stream>> idle;
};

http_loader::http_loader(asio::any_io_executor ex, std::size_t max_idle_per_host)
    : ex_(std::move(ex)), max_idle_(max_idle_per_host) {}

http_loader::~http_loader() = default;

std::size_t http_loader::idle_connections() const {
    std::size_t n = 0;
    for (const auto& [k, p] : pools_) n += p->idle.size();
    return n;
}

namespace {

std::string describe(const error_code& ec, bool timed_out, duration timeout) {
    if (timed_out || ec == beast::error::timeout) return "timeout after " + std::to_string(timeout.count()) + "ms";
    if (ec == http::error::body_limit) return "value too large";
    if (ec == asio::error::connection_refused) return "connection refused";
    if (ec == http::error::end_of_stream || ec == asio::error::eof) return "connection closed by upstream";
    if (ec.category() == http::make_error_code(http::error::bad_version).category())
        return "bad HTTP response (" + ec.message() + ")";
    return ec.message();
}

}  // namespace

asio::awaitable<load_result> http_loader::load(const upstream_url& url, std::string target, duration timeout,
                                               std::uint64_t max_body) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    const std::string pool_key = url.host + ":" + std::to_string(url.port);
    auto& slot = pools_[pool_key];
    if (!slot) slot = std::make_unique<pool>();

    http::request<http::empty_body> req{http::verb::get, target, 11};
    // An IPv6 literal keeps its brackets in Host (RFC 7230), though the URL parser strips them.
    const std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    req.set(http::field::host, url.port == 80 ? host : host + ":" + std::to_string(url.port));
    req.set(http::field::user_agent, "herdguard/0.1");
    req.keep_alive(true);

    // A pooled connection may have been closed by the upstream while idle; if it fails before
    // any response byte, one retry on a fresh connection is safe (GET is idempotent).
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::unique_ptr<beast::tcp_stream> stream;
        bool reused = false;
        if (!slot->idle.empty()) {
            stream = std::move(slot->idle.back());
            slot->idle.pop_back();
            reused = true;
        } else {
            stream = std::make_unique<beast::tcp_stream>(ex_);
            error_code ec;
            stream->expires_at(deadline);
            auto ip = asio::ip::make_address(url.host, ec);
            if (!ec) {
                co_await stream->async_connect(asio::ip::tcp::endpoint(ip, url.port),
                                               asio::redirect_error(asio::use_awaitable, ec));
            } else {
                // A host name: resolve, racing the same deadline. The resolver has no timeout of its
                // own (getaddrinfo on Asio's resolver thread), and the stream's deadline covers
                // only the stream's operations, so a slow DNS server would hold the load past
                // load_timeout.
                using namespace asio::experimental::awaitable_operators;
                asio::ip::tcp::resolver resolver(ex_);
                asio::steady_timer timer(ex_, deadline);
                auto raced = co_await (
                    resolver.async_resolve(url.host, std::to_string(url.port), asio::as_tuple(asio::use_awaitable)) ||
                    timer.async_wait(asio::as_tuple(asio::use_awaitable)));
                if (raced.index() == 1) {
                    ec = beast::error::timeout;
                } else {
                    auto [resolve_ec, results] = std::get<0>(std::move(raced));
                    ec = resolve_ec;
                    if (!ec) co_await stream->async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
                }
            }
            if (ec) co_return load_result{load_result::kind::failed, {}, describe(ec, false, timeout)};
            stream->socket().set_option(asio::ip::tcp::no_delay(true), ec);
        }

        error_code ec;
        stream->expires_at(deadline);
        co_await http::async_write(*stream, req, asio::redirect_error(asio::use_awaitable, ec));
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.header_limit(64 * 1024);
        parser.body_limit(max_body);
        if (!ec) co_await http::async_read(*stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {
            bool nothing_received = buffer.size() == 0 && !parser.got_some();
            if (reused && nothing_received && ec != beast::error::timeout && attempt == 0) continue;
            std::string why = describe(ec, false, timeout);
            if (ec == http::error::body_limit) why = "value larger than max_value_bytes (" + std::to_string(max_body) + ")";
            co_return load_result{load_result::kind::failed, {}, why};
        }
        auto& res = parser.get();
        const unsigned status = res.result_int();
        bool keep = res.keep_alive();
        load_result out;
        if (status == 200) {
            out.outcome = load_result::kind::ok;
            out.body = std::move(res.body());
        } else if (status == 404) {
            out.outcome = load_result::kind::not_found;
        } else {
            out.outcome = load_result::kind::failed;
            out.reason = "HTTP " + std::to_string(status);
        }
        if (keep && slot->idle.size() < max_idle_) {
            stream->expires_never();
            slot->idle.push_back(std::move(stream));
        }
        co_return out;
    }
    co_return load_result{load_result::kind::failed, {}, "connection closed by upstream"};
}

}  // namespace herdguard
