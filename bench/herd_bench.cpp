// herd_bench: one thundering herd against one or more herdguard instances.
//
//   herd_bench --ports P1[,P2,...] --clients K --key KEY [--label TEXT] [--raw FILE.csv]
//              [--timeout-ms 30000] [--connect-timeout-ms 30000] [--settle-ms 100] [--host 127.0.0.1]
//
// 1. connects K TCP sockets, round-robin over the ports (client i -> ports[i % M]), raising
//    RLIMIT_NOFILE as far as the hard limit allows;
// 2. has every socket answer a PING, so every session exists in the proxy before the herd;
// 3. waits --settle-ms, then writes `GET KEY` on all K sockets back to back from one thread
//    (interleaved over the instances), and collects the replies with epoll.
//
// Per request it records the send time (just before send()), the time its complete reply was
// read, and the reply kind: value, nil, error (with its text), or no reply (timeout / io).
// Output: one JSON object on stdout (a summary; latencies in ms over every request that got a
// reply, whatever its kind); with --raw, one CSV line per request:
//   client,port,send_ms,recv_ms,latency_ms,kind,detail
// with send_ms / recv_ms relative to the first send of the herd (recv_ms empty when no reply).
// Exit status: 0 if the herd ran (whatever the replies were), 2 on bad arguments, 1 when the
// setup failed (no socket connected).
//
// Standalone: POSIX sockets only, no herdguard or hiredis headers. Build:
//   g++ -O2 -std=c++20 -pthread -o herd_bench bench/herd_bench.cpp
// One file of about 600 lines on purpose, over the 500 the rest of the code keeps to: the bench
// scripts build it with that one g++ line wherever CMake has not, and it shares nothing with
// herdguard's sources (so a bug there cannot hide one here).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace {

using steady = std::chrono::steady_clock;
using ns = std::chrono::nanoseconds;

[[noreturn]] void usage(const char* why) {
    std::fprintf(stderr,
                 "herd_bench: %s\n"
                 "usage: herd_bench --ports P1[,P2..] --clients K --key KEY [--label TEXT] [--raw FILE]\n"
                 "                  [--timeout-ms 30000] [--connect-timeout-ms 30000] [--settle-ms 100]\n"
                 "                  [--host 127.0.0.1]\n",
                 why);
    std::exit(2);
}

std::string errno_text(const char* what) { return std::string(what) + ": " + std::strerror(errno); }

std::string json_escape(std::string_view s) {
    std::string out;
    for (char c : s) {
        switch (c) {
            case '"': out += "\\\""; break;
            case '\\': out += "\\\\"; break;
            case '\n': out += "\\n"; break;
            case '\r': out += "\\r"; break;
            case '\t': out += "\\t"; break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += c;
                }
        }
    }
    return out;
}

std::string csv_field(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"') out += "\"\"";
        else if (c == '\n' || c == '\r') out += ' ';
        else out += c;
    }
    return out + "\"";
}

// Length in bytes of the complete RESP reply at the front of buf, or nullopt if incomplete.
// Returns 0 for a malformed reply (the caller reports it).
std::optional<std::size_t> resp_length(std::string_view buf, std::size_t pos = 0, int depth = 0) {
    if (pos >= buf.size()) return std::nullopt;
    if (depth > 64) return 0;
    auto eol = buf.find("\r\n", pos);
    if (eol == std::string_view::npos) return std::nullopt;
    const char t = buf[pos];
    const std::size_t line_end = eol + 2;
    switch (t) {
        case '+':
        case '-':
        case ':':
        case '_':
        case ',':
        case '#':
            return line_end - pos;
        case '$':
        case '=':
        case '!': {
            long long n = std::strtoll(std::string(buf.substr(pos + 1, eol - pos - 1)).c_str(), nullptr, 10);
            if (n < 0) return line_end - pos;
            if (buf.size() < line_end + static_cast<std::size_t>(n) + 2) return std::nullopt;
            return line_end + static_cast<std::size_t>(n) + 2 - pos;
        }
        case '*':
        case '~':
        case '>':
        case '%': {
            long long n = std::strtoll(std::string(buf.substr(pos + 1, eol - pos - 1)).c_str(), nullptr, 10);
            if (n < 0) return line_end - pos;
            if (t == '%') n *= 2;
            std::size_t p = line_end;
            for (long long i = 0; i < n; ++i) {
                auto len = resp_length(buf, p, depth + 1);
                if (!len) return std::nullopt;
                if (*len == 0) return 0;
                p += *len;
            }
            return p - pos;
        }
        default:
            return 0;
    }
}

enum class kind { none, value, nil, error, other, timeout, io };

const char* kind_name(kind k) {
    switch (k) {
        case kind::none: return "none";
        case kind::value: return "value";
        case kind::nil: return "nil";
        case kind::error: return "error";
        case kind::other: return "other";
        case kind::timeout: return "timeout";
        case kind::io: return "io";
    }
    return "?";
}

struct client {
    int fd = -1;
    std::uint16_t port = 0;
    std::string in;
    std::string out;  // unsent bytes
    steady::time_point sent_at{};
    steady::time_point recv_at{};
    bool waiting = false;
    kind result = kind::none;
    std::string detail;  // value text, error text, or why there is no reply
};

void set_nonblocking(int fd) { ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK); }

// Blocking connect bounded by `timeout` (SO_SNDTIMEO bounds connect() on Linux).
int connect_to(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout, std::string& why) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        why = errno_text("socket");
        return -1;
    }
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) {
        why = "bad host " + host;
        ::close(fd);
        return -1;
    }
    for (;;) {
        if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) break;
        if (errno == EINTR) continue;
        why = errno_text("connect");
        ::close(fd);
        return -1;
    }
    set_nonblocking(fd);
    return fd;
}

std::string encode(const std::vector<std::string>& argv) {
    std::string out = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    return out;
}

class herd {
  public:
    explicit herd(std::vector<client>& cs) : cs_(cs) {
        ep_ = ::epoll_create1(EPOLL_CLOEXEC);
        if (ep_ < 0) {
            std::perror("epoll_create1");
            std::exit(1);
        }
        for (std::size_t i = 0; i < cs_.size(); ++i) {
            if (cs_[i].fd < 0) continue;
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLRDHUP;
            ev.data.u64 = i;
            if (::epoll_ctl(ep_, EPOLL_CTL_ADD, cs_[i].fd, &ev) != 0) {
                cs_[i].result = kind::io;
                cs_[i].detail = errno_text("epoll_ctl");
                ::close(cs_[i].fd);
                cs_[i].fd = -1;
            }
        }
    }
    ~herd() { ::close(ep_); }

    // Queues `bytes` on client i and writes what the socket takes now.
    void send(std::size_t i, const std::string& bytes) {
        client& c = cs_[i];
        c.in.clear();
        c.detail.clear();
        c.result = kind::none;
        c.out = bytes;
        c.waiting = true;
        c.sent_at = steady::now();
        write_some(i);
        if (c.waiting && !c.out.empty()) want_out(i, true);
    }

    // Waits until no client is waiting or the deadline passes; unanswered ones become timeouts.
    void collect(steady::time_point deadline) {
        std::vector<epoll_event> evs(4096);
        std::size_t outstanding = 0;
        for (auto& c : cs_) outstanding += c.waiting ? 1 : 0;
        while (outstanding > 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady::now()).count();
            if (left <= 0) break;
            int n = ::epoll_wait(ep_, evs.data(), static_cast<int>(evs.size()), static_cast<int>(std::min<long long>(left, 1000)));
            if (n < 0) {
                if (errno == EINTR) continue;
                std::perror("epoll_wait");
                std::exit(1);
            }
            const auto now = steady::now();
            for (int k = 0; k < n; ++k) {
                std::size_t i = evs[k].data.u64;
                client& c = cs_[i];
                if (!c.waiting) {
                    drain_unexpected(i);
                    continue;
                }
                if (evs[k].events & EPOLLOUT) {
                    write_some(i);
                    if (c.out.empty()) want_out(i, false);
                }
                if (c.waiting && (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR))) read_some(i, now);
                if (!c.waiting) --outstanding;
            }
        }
        for (auto& c : cs_) {
            if (!c.waiting) continue;
            c.waiting = false;
            c.result = kind::timeout;
            c.detail = "no reply within the timeout";
        }
    }

  private:
    void want_out(std::size_t i, bool on) {
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLRDHUP | (on ? EPOLLOUT : 0u);
        ev.data.u64 = i;
        ::epoll_ctl(ep_, EPOLL_CTL_MOD, cs_[i].fd, &ev);
    }

    void fail(std::size_t i, std::string why) {
        client& c = cs_[i];
        c.waiting = false;
        c.result = kind::io;
        c.detail = std::move(why);
        c.recv_at = steady::now();
        ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
    }

    void write_some(std::size_t i) {
        client& c = cs_[i];
        while (!c.out.empty()) {
            ssize_t n = ::send(c.fd, c.out.data(), c.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n > 0) {
                c.out.erase(0, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            fail(i, errno_text("send"));
            return;
        }
    }

    void read_some(std::size_t i, steady::time_point now) {
        client& c = cs_[i];
        char buf[16384];
        bool closed = false;
        std::string why;
        for (;;) {
            ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) {
                c.in.append(buf, static_cast<std::size_t>(n));
                continue;
            }
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
            closed = true;
            why = n == 0 ? "connection closed by the server" : errno_text("recv");
            break;
        }
        auto len = resp_length(c.in);
        if (len && *len == 0) {
            fail(i, "malformed reply: " + c.in.substr(0, 80));
            return;
        }
        if (len) {
            c.recv_at = now;
            c.waiting = false;
            std::string_view r(c.in.data(), *len);
            if (r[0] == '-') {
                c.result = kind::error;
                c.detail = std::string(r.substr(1, r.size() - 3));
            } else if (r == "$-1\r\n" || r == "*-1\r\n" || r == "_\r\n") {
                c.result = kind::nil;
            } else if (r[0] == '$') {
                c.result = kind::value;
                auto eol = r.find("\r\n");
                c.detail = std::string(r.substr(eol + 2, r.size() - eol - 4));
            } else {
                c.result = kind::other;
                c.detail = std::string(r.substr(0, std::min<std::size_t>(r.size(), 80)));
            }
            c.in.erase(0, *len);
            if (closed) fail_keep_result(i);
            return;
        }
        if (closed) fail(i, why);
    }

    // The reply arrived, and then the server hung up: keep the reply, drop the socket.
    void fail_keep_result(std::size_t i) {
        client& c = cs_[i];
        ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
        ::close(c.fd);
        c.fd = -1;
    }

    // Bytes (or a hang-up) on a client not waiting for anything: read and drop them.
    void drain_unexpected(std::size_t i) {
        client& c = cs_[i];
        if (c.fd < 0) return;
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(c.fd, buf, sizeof buf, MSG_DONTWAIT);
            if (n > 0) continue;
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
            ::epoll_ctl(ep_, EPOLL_CTL_DEL, c.fd, nullptr);
            ::close(c.fd);
            c.fd = -1;
            return;
        }
    }

    std::vector<client>& cs_;
    int ep_ = -1;
};

double ms_between(steady::time_point a, steady::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return NAN;
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    if (rank == 0) rank = 1;
    return sorted[std::min(rank, sorted.size()) - 1];
}

std::string num(double v) {
    if (std::isnan(v)) return "null";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", v);
    return buf;
}

}  // namespace

int main(int argc, char** argv) {
    std::vector<std::uint16_t> ports;
    std::size_t clients = 0;
    std::string key, label, raw_path, host = "127.0.0.1";
    long timeout_ms = 30000, connect_timeout_ms = 30000, settle_ms = 100;
    for (int i = 1; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(("missing value for " + a).c_str());
            return argv[++i];
        };
        if (a == "--ports") {
            std::string v = value();
            std::size_t pos = 0;
            while (pos <= v.size()) {
                auto comma = v.find(',', pos);
                std::string p = v.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
                if (!p.empty()) ports.push_back(static_cast<std::uint16_t>(std::stoul(p)));
                if (comma == std::string::npos) break;
                pos = comma + 1;
            }
        } else if (a == "--clients") {
            clients = std::stoul(value());
        } else if (a == "--key") {
            key = value();
        } else if (a == "--label") {
            label = value();
        } else if (a == "--raw") {
            raw_path = value();
        } else if (a == "--timeout-ms") {
            timeout_ms = std::stol(value());
        } else if (a == "--connect-timeout-ms") {
            connect_timeout_ms = std::stol(value());
        } else if (a == "--settle-ms") {
            settle_ms = std::stol(value());
        } else if (a == "--host") {
            host = value();
        } else if (a == "-h" || a == "--help") {
            usage("help");
        } else {
            usage(("unknown argument " + a).c_str());
        }
    }
    if (ports.empty()) usage("--ports is required");
    if (clients == 0) usage("--clients must be > 0");
    if (key.empty()) usage("--key is required");

    // File descriptors: K sockets + a few.
    rlimit lim{};
    ::getrlimit(RLIMIT_NOFILE, &lim);
    const rlim_t want = clients + 64;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < want) {
        lim.rlim_cur = (lim.rlim_max == RLIM_INFINITY || lim.rlim_max >= want) ? want : lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }

    // 1. Connect.
    std::vector<client> cs(clients);
    std::map<std::string, std::size_t> setup_failures;
    const auto connect_start = steady::now();
    const auto connect_deadline = connect_start + std::chrono::milliseconds(connect_timeout_ms);
    std::size_t connected = 0;
    for (std::size_t i = 0; i < clients; ++i) {
        cs[i].port = ports[i % ports.size()];
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(connect_deadline - steady::now());
        if (left.count() <= 0) {
            cs[i].result = kind::io;
            cs[i].detail = "setup: connect phase timed out";
            ++setup_failures[cs[i].detail];
            continue;
        }
        std::string why;
        cs[i].fd = connect_to(host, cs[i].port, std::min(left, std::chrono::milliseconds(5000)), why);
        if (cs[i].fd < 0) {
            cs[i].result = kind::io;
            cs[i].detail = "setup: " + why;
            ++setup_failures[cs[i].detail];
        } else {
            ++connected;
        }
    }
    const double connect_ms = ms_between(connect_start, steady::now());
    if (connected == 0) {
        std::fprintf(stderr, "herd_bench: no client connected (%s)\n",
                     setup_failures.empty() ? "?" : setup_failures.begin()->first.c_str());
        return 1;
    }

    herd h(cs);

    // 2. PING every client: every session exists in the proxy before the herd.
    const std::string ping = encode({"PING"});
    for (std::size_t i = 0; i < clients; ++i)
        if (cs[i].fd >= 0) h.send(i, ping);
    h.collect(steady::now() + std::chrono::milliseconds(connect_timeout_ms));
    std::size_t ready = 0;
    for (std::size_t i = 0; i < clients; ++i) {
        auto& c = cs[i];
        if (c.fd >= 0 && c.result == kind::other && c.detail.rfind("+PONG", 0) == 0) {
            ++ready;
            continue;
        }
        if (c.fd < 0 && c.detail.rfind("setup:", 0) == 0) continue;  // failed to connect: counted
        std::string why = "setup: PING answered " + std::string(kind_name(c.result)) +
                          (c.detail.empty() ? "" : ": " + c.detail.substr(0, 100));
        if (c.detail.rfind("setup:", 0) == 0) why = c.detail;
        ++setup_failures[why];
        c.detail = why;
        c.result = kind::io;
        if (c.fd >= 0) {
            ::close(c.fd);
            c.fd = -1;
        }
    }
    const double ready_ms = ms_between(connect_start, steady::now());
    std::this_thread::sleep_for(std::chrono::milliseconds(settle_ms));

    // 3. The herd: GET on every ready client, back to back.
    const std::string get = encode({"GET", key});
    const auto t0 = steady::now();
    for (std::size_t i = 0; i < clients; ++i)
        if (cs[i].fd >= 0) h.send(i, get);
    const auto t_sent = steady::now();
    h.collect(t0 + std::chrono::milliseconds(timeout_ms));
    const auto t_end = steady::now();

    // Results.
    std::vector<double> lat, lat_value;
    std::size_t values = 0, nils = 0, errors = 0, others = 0, timeouts = 0, ios = 0;
    std::map<std::string, std::size_t> error_kinds, value_kinds;
    double first_reply = NAN, last_reply = NAN;
    for (auto& c : cs) {
        const bool answered = c.result == kind::value || c.result == kind::nil || c.result == kind::error ||
                              c.result == kind::other;
        if (answered && c.sent_at >= t0) {
            double l = ms_between(c.sent_at, c.recv_at);
            lat.push_back(l);
            double r = ms_between(t0, c.recv_at);
            if (std::isnan(first_reply) || r < first_reply) first_reply = r;
            if (std::isnan(last_reply) || r > last_reply) last_reply = r;
        }
        switch (c.result) {
            case kind::value:
                ++values;
                lat_value.push_back(ms_between(c.sent_at, c.recv_at));
                ++value_kinds[c.detail];
                break;
            case kind::nil: ++nils; break;
            case kind::error: ++errors; ++error_kinds[c.detail]; break;
            case kind::other: ++others; ++error_kinds["unexpected reply: " + c.detail]; break;
            case kind::timeout: ++timeouts; ++error_kinds[c.detail]; break;
            case kind::io:
            case kind::none: ++ios; ++error_kinds[c.detail.empty() ? "no reply" : c.detail]; break;
        }
    }
    std::sort(lat.begin(), lat.end());
    std::sort(lat_value.begin(), lat_value.end());

    if (!raw_path.empty()) {
        FILE* f = std::fopen(raw_path.c_str(), "w");
        if (!f) {
            std::perror(raw_path.c_str());
        } else {
            std::fprintf(f, "client,port,send_ms,recv_ms,latency_ms,kind,detail\n");
            for (std::size_t i = 0; i < clients; ++i) {
                const auto& c = cs[i];
                const bool sent = c.sent_at >= t0;
                const bool answered = c.result == kind::value || c.result == kind::nil ||
                                      c.result == kind::error || c.result == kind::other;
                std::string send_ms = sent ? num(ms_between(t0, c.sent_at)) : "";
                std::string recv_ms = sent && answered ? num(ms_between(t0, c.recv_at)) : "";
                std::string latency = sent && answered ? num(ms_between(c.sent_at, c.recv_at)) : "";
                std::fprintf(f, "%zu,%u,%s,%s,%s,%s,%s\n", i, c.port, send_ms.c_str(), recv_ms.c_str(),
                             latency.c_str(), kind_name(c.result), csv_field(c.detail.substr(0, 200)).c_str());
            }
            std::fclose(f);
        }
    }

    auto top = [](const std::map<std::string, std::size_t>& m, std::size_t n) {
        std::vector<std::pair<std::size_t, std::string>> v;
        for (const auto& [k, c] : m) v.emplace_back(c, k);
        std::sort(v.begin(), v.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
        std::string out = "[";
        for (std::size_t i = 0; i < v.size() && i < n; ++i) {
            if (i) out += ",";
            out += "{\"count\":" + std::to_string(v[i].first) + ",\"text\":\"" + json_escape(v[i].second.substr(0, 160)) + "\"}";
        }
        return out + "]";
    };

    std::string ports_text;
    for (auto p : ports) ports_text += (ports_text.empty() ? "" : ",") + std::to_string(p);
    std::printf(
        "{\"label\":\"%s\",\"key\":\"%s\",\"clients\":%zu,\"instances\":%zu,\"ports\":\"%s\",\"connected\":%zu,"
        "\"ready\":%zu,\"connect_ms\":%s,\"ready_ms\":%s,\"send_spread_ms\":%s,\"first_reply_ms\":%s,"
        "\"last_reply_ms\":%s,\"run_ms\":%s,\"answered\":%zu,\"values\":%zu,\"nils\":%zu,\"error_replies\":%zu,"
        "\"unexpected\":%zu,\"timeouts\":%zu,\"io_errors\":%zu,\"errors\":%zu,\"p50_ms\":%s,\"p90_ms\":%s,"
        "\"p99_ms\":%s,\"max_ms\":%s,\"min_ms\":%s,\"value_p99_ms\":%s,\"distinct_values\":%zu,"
        "\"top_values\":%s,\"top_errors\":%s}\n",
        json_escape(label).c_str(), json_escape(key).c_str(), clients, ports.size(), ports_text.c_str(), connected,
        ready, num(connect_ms).c_str(), num(ready_ms).c_str(), num(ms_between(t0, t_sent)).c_str(),
        num(first_reply).c_str(), num(last_reply).c_str(), num(ms_between(t0, t_end)).c_str(), lat.size(), values,
        nils, errors, others, timeouts, ios, errors + others + timeouts + ios, num(percentile(lat, 0.50)).c_str(),
        num(percentile(lat, 0.90)).c_str(), num(percentile(lat, 0.99)).c_str(),
        num(lat.empty() ? NAN : lat.back()).c_str(), num(lat.empty() ? NAN : lat.front()).c_str(),
        num(percentile(lat_value, 0.99)).c_str(), value_kinds.size(), top(value_kinds, 3).c_str(),
        top(error_kinds, 4).c_str());
    for (auto& c : cs)
        if (c.fd >= 0) ::close(c.fd);
    return 0;
}
