// herdguard-demo-upstream: the HTTP service the demo and the tests load values from.
//
// GET /<anything>      counts the request, waits `latency`, answers `status` with the body
//                      "value:<path>#<n>" (n = how many times this path was asked, so a reader can
//                      tell which load produced a value). A path containing "missing" is a 404.
// GET /_stats          "total <n>" and one "<count> <path>" line per path
// GET /_reset          zeroes the counts
// GET /_control?...    latency_ms=N, status=S, hang=0|1 (accept, never answer),
//                      hang_after_headers=0|1 (status line and headers, then nothing),
//                      close_mid_body=0|1, garbage=0|1 (malformed status line),
//                      body_size=N (pad the body to N bytes)
// Single-threaded; every connection is bounded by a 60 s idle/hang limit.
#include <cstdio>
#include <map>
#include <string>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <CLI/CLI.hpp>

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

struct behaviour {
    long latency_ms = 0;
    unsigned status = 200;
    bool hang = false;
    bool hang_after_headers = false;
    bool close_mid_body = false;
    bool garbage = false;
    std::size_t body_size = 0;
};

struct state {
    behaviour b;
    std::uint64_t total = 0;
    std::map<std::string, std::uint64_t> per_path;
};

std::string query_param(std::string_view target, std::string_view name) {
    auto q = target.find('?');
    if (q == std::string_view::npos) return {};
    std::string_view rest = target.substr(q + 1);
    while (!rest.empty()) {
        auto amp = rest.find('&');
        auto pair = rest.substr(0, amp);
        auto eq = pair.find('=');
        if (pair.substr(0, eq) == name) return eq == std::string_view::npos ? "" : std::string(pair.substr(eq + 1));
        if (amp == std::string_view::npos) break;
        rest.remove_prefix(amp + 1);
    }
    return {};
}

asio::awaitable<void> sleep_ms(long ms) {
    asio::steady_timer t(co_await asio::this_coro::executor, std::chrono::milliseconds(ms));
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// One HTTP connection of the demo upstream, read as a script (parse, count, answer per the
// controls); a test and demo tool, kept whole rather than split.
asio::awaitable<void> serve(tcp::socket socket, state& st) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer;
    while (true) {
        http::request<http::string_body> req;
        stream.expires_after(std::chrono::seconds(60));
        auto [ec, n] = co_await http::async_read(stream, buffer, req, asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        std::string target(req.target());
        std::string path = target.substr(0, target.find('?'));
        http::response<http::string_body> res{http::status::ok, req.version()};
        res.keep_alive(req.keep_alive());
        if (path == "/_stats") {
            std::string body = "total " + std::to_string(st.total) + "\n";
            for (const auto& [p, c] : st.per_path) body += std::to_string(c) + " " + p + "\n";
            res.body() = body;
        } else if (path == "/_reset") {
            st.total = 0;
            st.per_path.clear();
            res.body() = "ok\n";
        } else if (path == "/_control") {
            auto set_long = [&](const char* name, auto& field) {
                auto v = query_param(target, name);
                if (!v.empty()) field = static_cast<std::remove_reference_t<decltype(field)>>(std::stol(v));
            };
            set_long("latency_ms", st.b.latency_ms);
            set_long("status", st.b.status);
            set_long("hang", st.b.hang);
            set_long("hang_after_headers", st.b.hang_after_headers);
            set_long("close_mid_body", st.b.close_mid_body);
            set_long("garbage", st.b.garbage);
            set_long("body_size", st.b.body_size);
            res.body() = "ok\n";
        } else {
            ++st.total;
            auto count = ++st.per_path[target];
            behaviour b = st.b;  // as configured when the request arrived
            if (b.hang) {
                co_await sleep_ms(60000);
                co_return;
            }
            if (b.latency_ms > 0) co_await sleep_ms(b.latency_ms);
            if (b.garbage) {
                static constexpr std::string_view junk = "HTTP/1.1 2x0 WHAT\r\nno colon here\r\n\r\n";
                co_await asio::async_write(stream, asio::buffer(junk), asio::as_tuple(asio::use_awaitable));
                co_return;
            }
            if (b.hang_after_headers) {  // a status line and headers, then nothing
                static constexpr std::string_view head = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n";
                co_await asio::async_write(stream, asio::buffer(head), asio::as_tuple(asio::use_awaitable));
                co_await sleep_ms(60000);
                co_return;
            }
            if (b.close_mid_body) {
                static constexpr std::string_view partial = "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial";
                co_await asio::async_write(stream, asio::buffer(partial), asio::as_tuple(asio::use_awaitable));
                co_return;
            }
            if (path.find("missing") != std::string::npos) {
                res.result(http::status::not_found);
                res.body() = "not found\n";
            } else {
                res.result(b.status);
                res.body() = "value:" + target + "#" + std::to_string(count);
                if (res.body().size() < b.body_size) res.body().resize(b.body_size, '.');
            }
        }
        res.prepare_payload();
        auto [wec, wn] = co_await http::async_write(stream, res, asio::as_tuple(asio::use_awaitable));
        if (wec || !res.keep_alive()) co_return;
    }
}

asio::awaitable<void> listen(tcp::acceptor& acceptor, state& st) {
    while (true) {
        auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
        if (ec) co_return;
        asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), st), asio::detached);
    }
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"herdguard demo upstream: a counting, scriptable HTTP service"};
    std::string listen_addr = "127.0.0.1:8080";
    state st;
    app.add_option("--listen", listen_addr, "host:port to listen on");
    app.add_option("--latency-ms", st.b.latency_ms, "delay before each answer");
    app.add_option("--status", st.b.status, "HTTP status of each answer");
    CLI11_PARSE(app, argc, argv);

    auto colon = listen_addr.rfind(':');
    if (colon == std::string::npos) {
        std::fprintf(stderr, "demo-upstream: --listen: expected host:port, got %s\n", listen_addr.c_str());
        return 2;
    }
    try {
        asio::io_context ctx{1};
        tcp::endpoint ep(asio::ip::make_address(listen_addr.substr(0, colon)),
                         static_cast<unsigned short>(std::stoi(listen_addr.substr(colon + 1))));
        tcp::acceptor acceptor(ctx, ep);
        asio::signal_set signals(ctx, SIGINT, SIGTERM);
        signals.async_wait([&](auto, int) { ctx.stop(); });
        asio::co_spawn(ctx, listen(acceptor, st), asio::detached);
        std::printf("demo upstream listening on %s (latency %ld ms, status %u)\n", listen_addr.c_str(),
                    st.b.latency_ms, st.b.status);
        std::fflush(stdout);
        ctx.run();
    } catch (const std::exception& e) {
        std::fprintf(stderr, "demo-upstream: %s\n", e.what());
        return 1;
    }
    return 0;
}
