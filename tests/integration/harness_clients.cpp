// The test harness, clients: the hiredis client, raw sockets for protocol-level tests, HTTP GET,
// RESP encoding and parsing helpers, and the poll()-driven crowd of many connections.
#include "harness.h"
#include "harness_internal.h"


#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

namespace herdguard::test {

using namespace detail;

// ---------------------------------------------------------------------------------------------
std::string reply::canonical() const {
    switch (type) {
        case kind::status:
            return "+" + str;
        case kind::error:
            return "-" + str;
        case kind::integer:
            return ":" + std::to_string(integer);
        case kind::string:
            return "$" + str;
        case kind::nil:
            return "(nil)";
        case kind::io_error:
            return "!io: " + str;
        case kind::array: {
            std::string out = "*[";
            for (std::size_t i = 0; i < elements.size(); ++i) {
                if (i) out += ", ";
                out += elements[i].canonical();
            }
            return out + "]";
        }
    }
    return "?";
}

namespace {

reply from_hiredis(const redisReply* r) {
    reply out;
    switch (r->type) {
        case REDIS_REPLY_STATUS:
            out.type = reply::kind::status;
            break;
        case REDIS_REPLY_ERROR:
            out.type = reply::kind::error;
            break;
        case REDIS_REPLY_INTEGER:
            out.type = reply::kind::integer;
            break;
        case REDIS_REPLY_STRING:
            out.type = reply::kind::string;
            break;
        case REDIS_REPLY_NIL:
            out.type = reply::kind::nil;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = reply::kind::array;
            break;
        default:
            out.type = reply::kind::io_error;
            out.str = "unexpected hiredis type " + std::to_string(r->type);
            return out;
    }
    if (r->type == REDIS_REPLY_INTEGER) out.integer = r->integer;
    if (r->str) out.str.assign(r->str, r->len);
    for (std::size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(from_hiredis(r->element[i]));
    return out;
}

reply io_error(redisContext* ctx) {
    reply out;
    out.type = reply::kind::io_error;
    out.str = ctx && ctx->err ? ctx->errstr : "no reply";
    if (out.str.empty()) out.str = "error " + std::to_string(ctx ? ctx->err : -1);
    return out;
}

struct argv_view {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    explicit argv_view(const std::vector<std::string>& argv) {
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
    }
};

}  // namespace

client::client(std::uint16_t port, milliseconds timeout) {
    ctx_ = redisConnectWithTimeout("127.0.0.1", port, to_timeval(timeout));
    if (ctx_ == nullptr || ctx_->err) {
        std::string why = ctx_ ? ctx_->errstr : "out of memory";
        if (ctx_) redisFree(ctx_);
        ctx_ = nullptr;
        throw harness_error("connect 127.0.0.1:" + std::to_string(port) + ": " + why);
    }
    set_timeout(timeout);
}

client::~client() {
    if (ctx_) redisFree(ctx_);
}

client::client(client&& other) noexcept : ctx_(other.ctx_) {
    other.ctx_ = nullptr;
}

void client::set_timeout(milliseconds timeout) {
    redisSetTimeout(ctx_, to_timeval(timeout));
}

bool client::ok() const {
    return ctx_ && ctx_->err == 0;
}

std::string client::error_text() const {
    return ctx_ && ctx_->err ? ctx_->errstr : "";
}

reply client::cmd_reply(const std::vector<std::string>& argv) {
    if (!ok()) return io_error(ctx_);
    argv_view v(argv);
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), v.ptrs.data(), v.lens.data()));
    if (r == nullptr) return io_error(ctx_);
    reply out = from_hiredis(r);
    freeReplyObject(r);
    return out;
}

void client::append(const std::vector<std::string>& argv) {
    argv_view v(argv);
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), v.ptrs.data(), v.lens.data());
}

bool client::flush() {
    int done = 0;
    while (!done) {
        if (redisBufferWrite(ctx_, &done) != REDIS_OK) return false;
    }
    return true;
}

reply client::get_reply_tree() {
    if (!ok()) return io_error(ctx_);
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return io_error(ctx_);
    auto* r = static_cast<redisReply*>(raw);
    reply out = from_hiredis(r);
    freeReplyObject(r);
    return out;
}

std::vector<std::string> client::pipeline(const std::vector<std::vector<std::string>>& commands) {
    for (const auto& c : commands) append(c);
    std::vector<std::string> replies;
    replies.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) replies.push_back(get_reply());
    return replies;
}

// ---------------------------------------------------------------------------------------------
namespace {

// Returns the offset just past the reply starting at `pos`, or nullopt if it is incomplete.
// RESP2 and RESP3: blob types ($ ! =), aggregates (* ~ >, and % | with two elements per entry,
// an attribute followed by the reply it annotates).
std::optional<std::size_t> reply_end(std::string_view buf, std::size_t pos) {
    if (pos >= buf.size()) return std::nullopt;
    auto crlf = buf.find("\r\n", pos);
    if (crlf == std::string_view::npos) return std::nullopt;
    const char type = buf[pos];
    const std::size_t next = crlf + 2;
    const bool blob = type == '$' || type == '!' || type == '=';
    const bool aggregate = type == '*' || type == '~' || type == '>' || type == '%' || type == '|';
    if (!blob && !aggregate) return next;  // +, -, :, _, ,, #, ( and anything line-shaped
    long long n = 0;
    auto [p, ec] = std::from_chars(buf.data() + pos + 1, buf.data() + crlf, n);
    if (ec != std::errc{} || n < 0) return next;  // null bulk / null array, or not a number
    if (blob) {
        if (buf.size() < next + static_cast<std::size_t>(n) + 2) return std::nullopt;
        return next + static_cast<std::size_t>(n) + 2;
    }
    if (type == '%') n *= 2;
    if (type == '|') n = 2 * n + 1;
    std::size_t at = next;
    for (long long i = 0; i < n; ++i) {
        auto end = reply_end(buf, at);
        if (!end) return std::nullopt;
        at = *end;
    }
    return at;
}

}  // namespace

std::optional<std::size_t> resp_reply_length(std::string_view buf) {
    return reply_end(buf, 0);
}

raw_conn::raw_conn(std::uint16_t port, milliseconds receive_timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw harness_error(errno_text("socket"));
    timeval tv = to_timeval(receive_timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // Split-write tests need each send() to leave as its own segment.
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::string why = errno_text("connect 127.0.0.1:" + std::to_string(port));
        ::close(fd_);
        throw harness_error(why);
    }
}

raw_conn::~raw_conn() {
    if (fd_ >= 0) ::close(fd_);
}

bool raw_conn::send(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

int raw_conn::send_within(std::string_view bytes, milliseconds within, std::size_t* sent) {
    const auto deadline = steady::now() + within;
    std::size_t done = 0;
    int result = 0;
    while (done < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int left = remaining_ms(deadline);
            if (left == 0) {
                result = ETIMEDOUT;
                break;
            }
            pollfd p{fd_, POLLOUT, 0};
            int r = ::poll(&p, 1, left);
            if (r < 0 && errno != EINTR) {
                result = errno;
                break;
            }
            continue;  // writable, an error (the next send reports it), or the deadline check
        }
        result = n < 0 ? errno : EPIPE;
        break;
    }
    if (sent) *sent = done;
    return result;
}

bool raw_conn::fill() {
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }
    if (n == 0 || (errno == ECONNRESET || errno == EPIPE)) closed_ = true;
    return false;
}

std::string raw_conn::read_reply(milliseconds within) {
    const auto deadline = steady::now() + within;
    for (;;) {
        if (auto len = resp_reply_length(buf_)) {
            std::string out = buf_.substr(0, *len);
            buf_.erase(0, *len);
            return out;
        }
        if (closed_) return "";
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r == 0) return "";
        if (r < 0 && errno != EINTR) return "";
        if (r > 0) fill();
    }
}

std::string raw_conn::ask(const std::vector<std::string>& argv, milliseconds within) {
    if (!send(encode_command(argv))) return "<send failed>";
    return read_reply(within);
}

bool raw_conn::wait_closed(milliseconds within) {
    const auto deadline = steady::now() + within;
    while (!closed_) {
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r == 0) return false;
        if (r < 0 && errno != EINTR) return false;
        if (r > 0 && !fill() && !closed_) {
            // POLLIN with nothing to read and no EOF: only POLLERR/POLLHUP-style states do this.
            if (p.revents & (POLLERR | POLLHUP)) closed_ = true;
        }
    }
    return true;
}


http_response http_get(std::uint16_t port, const std::string& target, milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    const std::string what = "HTTP GET 127.0.0.1:" + std::to_string(port) + target;
    std::string why;
    fd_guard sock{connect_loopback(port, timeout, why)};
    if (sock.fd < 0) throw harness_error(what + ": " + why);
    const std::string request = "GET " + target +
                                " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                                "\r\nConnection: close\r\n\r\n";
    std::string_view left = request;
    while (!left.empty()) {
        ssize_t n = ::send(sock.fd, left.data(), left.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw harness_error(what + ": " + errno_text("send"));
        left.remove_prefix(static_cast<std::size_t>(n));
    }
    std::string in;
    for (;;) {  // "Connection: close": the response ends at EOF
        pollfd p{sock.fd, POLLIN, 0};
        int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            throw harness_error(what + ": no complete response within " + ms_text(timeout) +
                                " (got " + std::to_string(in.size()) + " bytes)");
        }
        char buf[16384];
        ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == ECONNRESET && !in.empty()) break;
            throw harness_error(what + ": " + errno_text("recv"));
        }
        in.append(buf, static_cast<std::size_t>(n));
    }
    // "HTTP/1.1 200 OK\r\n" headers "\r\n\r\n" body
    auto head_end = in.find("\r\n\r\n");
    if (in.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || in.size() < 12)
        throw harness_error(what + ": malformed response: " + in.substr(0, 200));
    http_response out;
    auto [p, ec] = std::from_chars(in.data() + 9, in.data() + 12, out.status);
    if (ec != std::errc{}) throw harness_error(what + ": bad status line: " + in.substr(0, 200));
    out.body = in.substr(head_end + 4);
    // Honour Content-Length when there is one (the body may not be longer, nor cut short).
    std::string head = in.substr(0, head_end + 2);
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
        std::size_t at = head.find_first_not_of(' ', cl + 17);
        std::size_t len = 0;
        std::from_chars(head.data() + at, head.data() + head.size(), len);
        if (out.body.size() < len)
            throw harness_error(what + ": body cut short (" + std::to_string(out.body.size()) +
                                " of " + std::to_string(len) + " bytes)");
        out.body.resize(len);
    }
    return out;
}

long long herdguard_counter(client& c, std::string_view name) {
    auto r = c.cmd_reply({"INFO", "herdguard"});
    if (r.type != reply::kind::string)
        throw harness_error("INFO herdguard: " + r.canonical());
    auto fields = info_fields(r.str);
    auto it = fields.find(std::string(name));
    if (it == fields.end())
        throw harness_error("INFO herdguard has no " + std::string(name) + ":\n" + r.str);
    long long v = 0;
    const std::string& text = it->second;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size())
        throw harness_error("INFO herdguard: " + std::string(name) + " is not a number: " + text);
    return v;
}

long long herdguard_counter(std::uint16_t proxy_port, std::string_view name) {
    client c(proxy_port);
    return herdguard_counter(c, name);
}

std::string encode_command(const std::vector<std::string>& argv) {
    std::string out = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) {
        out += "$" + std::to_string(a.size()) + "\r\n";
        out += a;
        out += "\r\n";
    }
    return out;
}

reply parse_reply(std::string_view bytes) {
    reply out;
    out.type = reply::kind::io_error;
    redisReader* reader = redisReaderCreate();
    void* raw = nullptr;
    if (redisReaderFeed(reader, bytes.data(), bytes.size()) == REDIS_OK &&
        redisReaderGetReply(reader, &raw) == REDIS_OK && raw != nullptr) {
        out = from_hiredis(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
    } else {
        out.str = "unparseable reply: " + std::string(bytes.substr(0, 200));
    }
    redisReaderFree(reader);
    return out;
}

}  // namespace herdguard::test
