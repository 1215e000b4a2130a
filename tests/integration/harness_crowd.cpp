// The test harness, crowds: many client connections driven by poll() from one thread, so 1000
// clients cost 1000 fds, not 1000 threads, and Catch assertions stay on the test's thread.
#include "harness.h"
#include "harness_internal.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <map>

namespace herdguard::test {

using namespace detail;

crowd::crowd(const std::vector<std::uint16_t>& ports, std::size_t clients,
             milliseconds ready_within) {
    if (ports.empty()) throw harness_error("crowd: no ports");
    raise_fd_limit(clients + 512);
    members_.resize(clients);
    try {
        for (std::size_t i = 0; i < clients; ++i) {
            auto& m = members_[i];
            m.port = ports[i % ports.size()];
            std::string why;
            m.fd = connect_loopback(m.port, 2s, why);
            if (m.fd < 0) throw harness_error("crowd client #" + std::to_string(i) + ": " + why);
            ::fcntl(m.fd, F_SETFL, ::fcntl(m.fd, F_GETFL) | O_NONBLOCK);
        }
        // Every client answers a PING before the test starts: the proxy has accepted them all.
        auto pongs = request_all({"PING"}, ready_within);
        for (std::size_t i = 0; i < pongs.size(); ++i) {
            if (pongs[i].text != "+PONG")
                throw harness_error("crowd client #" + std::to_string(i) + " (port " +
                                    std::to_string(members_[i].port) +
                                    ") did not answer PING: " + pongs[i].text + "\n" +
                                    summarize(pongs));
        }
    } catch (...) {
        // The destructor does not run for a constructor that throws: close what was opened, or
        // thousands of fds would leak into every later test.
        for (auto& m : members_)
            if (m.fd >= 0) ::close(m.fd);
        throw;
    }
}

crowd::~crowd() {
    for (auto& m : members_)
        if (m.fd >= 0) ::close(m.fd);
}

void crowd::send(std::size_t i, const std::vector<std::string>& argv, std::size_t copies) {
    auto& m = members_.at(i);
    if (m.fd < 0) throw harness_error("crowd: client #" + std::to_string(i) + " is closed");
    const std::string one = encode_command(argv);
    for (std::size_t k = 0; k < copies; ++k) m.out += one;
    m.waiting = copies > 0;
    m.pending = copies;
    m.results.clear();
    m.sent_at = steady::now();
    write_some(m);
}

void crowd::send_all(const std::vector<std::string>& argv, std::size_t copies) {
    for (std::size_t i = 0; i < members_.size(); ++i)
        if (members_[i].fd >= 0) send(i, argv, copies);
}

void crowd::close(std::size_t i) {
    auto& m = members_.at(i);
    if (m.fd >= 0) ::close(m.fd);
    m.fd = -1;
    m.waiting = false;
    m.pending = 0;
    m.results = {{false, "(closed by the test)", milliseconds(0)}};
}

// Every reply still expected ends as `why`.
void crowd::fail(member& m, const std::string& why) {
    for (; m.pending > 0; --m.pending) m.results.push_back({false, why, milliseconds(0)});
    m.waiting = false;
}

void crowd::write_some(member& m) {
    while (!m.out.empty()) {
        ssize_t n = ::send(m.fd, m.out.data(), m.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            m.out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // POLLOUT later
        fail(m, "!io: " + errno_text("send"));
        return;
    }
}

void crowd::read_some(member& m) {
    char buf[16384];
    bool ended = false;
    int recv_errno = 0;
    for (;;) {
        ssize_t n = ::recv(m.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            m.in.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        ended = true;  // EOF or reset: complete replies already buffered still count
        recv_errno = n < 0 ? errno : 0;
        break;
    }
    std::size_t start = 0;
    while (m.pending > 0) {
        auto len = resp_reply_length(std::string_view(m.in).substr(start));
        if (!len) break;
        crowd_reply r;
        r.latency = std::chrono::duration_cast<milliseconds>(steady::now() - m.sent_at);
        r.text = parse_reply(std::string_view(m.in).substr(start, *len)).canonical();
        r.answered = true;
        m.results.push_back(std::move(r));
        start += *len;
        --m.pending;
    }
    m.in.erase(0, start);
    if (m.pending == 0) {
        m.waiting = false;
    } else if (ended) {
        errno = recv_errno;
        fail(m, recv_errno == 0 ? "!io: connection closed by the server" : "!io: " + errno_text("recv"));
    }
}

std::vector<crowd_reply> crowd::collect(milliseconds within) {
    const auto deadline = steady::now() + within;
    std::vector<pollfd> fds;
    std::vector<member*> polled;
    for (;;) {
        fds.clear();
        polled.clear();
        for (auto& m : members_) {
            if (!m.waiting) continue;
            short events = POLLIN;
            if (!m.out.empty()) events |= POLLOUT;
            fds.push_back({m.fd, events, 0});
            polled.push_back(&m);
        }
        if (fds.empty()) break;
        int left = remaining_ms(deadline);
        if (left == 0) break;
        int r = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), left);
        if (r < 0 && errno != EINTR) throw harness_error(errno_text("crowd: poll"));
        if (r <= 0) continue;
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (fds[k].revents == 0) continue;
            member& m = *polled[k];
            if (fds[k].revents & POLLOUT) write_some(m);
            if (m.waiting && (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) read_some(m);
        }
    }
    std::vector<crowd_reply> out;
    out.reserve(members_.size());
    for (auto& m : members_) {
        out.insert(out.end(), m.results.begin(), m.results.end());
        // Still outstanding: report them, keep the socket for a later collect().
        for (std::size_t k = 0; m.waiting && k < m.pending; ++k)
            out.push_back({false, "!io: no reply within " + ms_text(within), milliseconds(0)});
        if (!m.waiting && m.results.empty()) out.push_back({false, "", milliseconds(0)});  // idle
    }
    return out;
}

std::string summarize(const std::vector<crowd_reply>& replies) {
    std::map<std::string, std::size_t> counts;
    for (const auto& r : replies) ++counts[r.text.substr(0, 160)];
    std::vector<std::pair<std::size_t, std::string>> sorted;
    for (auto& [text, n] : counts) sorted.emplace_back(n, text);
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    std::string out;
    for (std::size_t i = 0; i < sorted.size() && i < 20; ++i)
        out += "  " + std::to_string(sorted[i].first) + " x " + sorted[i].second + "\n";
    if (sorted.size() > 20) out += "  ... and " + std::to_string(sorted.size() - 20) + " more\n";
    return out;
}

}  // namespace herdguard::test
