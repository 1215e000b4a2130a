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

http::request<http::empty_body> make_get(const upstream_url& url, std::string target) {
    http::request<http::empty_body> req{http::verb::get, target, 11};
    // An IPv6 literal keeps its brackets in Host (RFC 7230), though the URL parser strips them.
    const std::string host = url.host.find(':') != std::string::npos ? "[" + url.host + "]" : url.host;
    req.set(http::field::host, url.port == 80 ? host : host + ":" + std::to_string(url.port));
    req.set(http::field::user_agent, "herdguard/0.1");
    req.keep_alive(true);
    return req;
}

// A new connection to the upstream, within `deadline`: an IP address directly, a host name
// resolved first.
asio::awaitable<error_code> connect_stream(beast::tcp_stream& stream, const upstream_url& url,
                                           std::chrono::steady_clock::time_point deadline) {
    error_code ec;
    stream.expires_at(deadline);
    auto ip = asio::ip::make_address(url.host, ec);
    if (!ec) {
        co_await stream.async_connect(asio::ip::tcp::endpoint(ip, url.port), asio::redirect_error(asio::use_awaitable, ec));
        co_return ec;
    }
    // A host name: resolve, racing the same deadline. The resolver has no timeout of its own
    // (getaddrinfo on Asio's resolver thread), and the stream's deadline covers only the stream's
    // operations, so a slow DNS server would hold the load past load_timeout.
    using namespace asio::experimental::awaitable_operators;
    auto ex = stream.get_executor();
    asio::ip::tcp::resolver resolver(ex);
    asio::steady_timer timer(ex, deadline);
    auto raced = co_await (
        resolver.async_resolve(url.host, std::to_string(url.port), asio::as_tuple(asio::use_awaitable)) ||
        timer.async_wait(asio::as_tuple(asio::use_awaitable)));
    if (raced.index() == 1) co_return error_code(beast::error::timeout);
    auto [resolve_ec, results] = std::get<0>(std::move(raced));
    if (resolve_ec) co_return resolve_ec;
    co_await stream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
    co_return ec;
}

// 200 is the value, 404 "not found", anything else a failure.
load_result to_result(http::response<http::string_body>& res) {
    load_result out;
    const unsigned status = res.result_int();
    if (status == 200) {
        out.outcome = load_result::kind::ok;
        out.body = std::move(res.body());
    } else if (status == 404) {
        out.outcome = load_result::kind::not_found;
    } else {
        out.outcome = load_result::kind::failed;
        out.reason = "HTTP " + std::to_string(status);
    }
    return out;
}

}  // namespace

asio::awaitable<load_result> http_loader::load(const upstream_url& url, std::string target, duration timeout,
                                               std::uint64_t max_body) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    auto& slot = pools_[url.host + ":" + std::to_string(url.port)];
    if (!slot) slot = std::make_unique<pool>();
    const auto req = make_get(url, std::move(target));

    // A pooled connection may have been closed by the upstream while idle; if it fails before
    // any response byte, one retry on a fresh connection is safe (GET is idempotent).
    for (int attempt = 0; attempt < 2; ++attempt) {
        std::unique_ptr<beast::tcp_stream> stream;
        const bool reused = !slot->idle.empty();
        error_code ec;
        if (reused) {
            stream = std::move(slot->idle.back());
            slot->idle.pop_back();
        } else {
            stream = std::make_unique<beast::tcp_stream>(ex_);
            ec = co_await connect_stream(*stream, url, deadline);
            if (ec) co_return load_result{load_result::kind::failed, {}, describe(ec, false, timeout)};
            stream->socket().set_option(asio::ip::tcp::no_delay(true), ec);
        }

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
        const bool keep = res.keep_alive();
        load_result out = to_result(res);
        if (keep && slot->idle.size() < max_idle_) {
            stream->expires_never();
            slot->idle.push_back(std::move(stream));
        }
        co_return out;
    }
    co_return load_result{load_result::kind::failed, {}, "connection closed by upstream"};
}

}  // namespace herdguard
