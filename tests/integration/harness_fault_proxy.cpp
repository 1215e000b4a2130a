#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <algorithm>
#include <utility>

#include "fault_proxy.h"
#include "harness_internal.h"

namespace herdguard::test {

using detail::errno_text;

namespace {

int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return -1;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, const char* data, std::size_t n) {
    while (n > 0) {
        const ssize_t w = ::send(fd, data, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) return false;
        data += w;
        n -= static_cast<std::size_t>(w);
    }
    return true;
}

}  // namespace

fault_proxy::fault_proxy(std::uint16_t target_port) : target_(target_port) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (listen_fd_ < 0) throw harness_error(errno_text("fault_proxy: socket"));
    int one = 1;
    ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(listen_fd_, 64) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        const std::string why = errno_text("fault_proxy: bind 127.0.0.1:0");
        ::close(listen_fd_);
        throw harness_error(why);
    }
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
}

fault_proxy::~fault_proxy() {
    stop_ = true;
    if (acceptor_.joinable()) acceptor_.join();
    std::vector<std::thread> threads;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        threads.swap(threads_);
    }
    for (auto& t : threads) t.join();
    ::close(listen_fd_);
}

void fault_proxy::corrupt(std::string marker, char with) {
    std::lock_guard<std::mutex> lock(mutex_);
    marker_ = std::move(marker);
    with_ = with;
}

void fault_proxy::accept_loop() {
    while (!stop_) {
        pollfd p{listen_fd_, POLLIN, 0};
        if (::poll(&p, 1, 100) <= 0) continue;
        const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (client < 0) continue;
        const int server = connect_to(target_);
        if (server < 0) {
            ::close(client);  // the target is down: the client sees a closed connection
            continue;
        }
        std::lock_guard<std::mutex> lock(mutex_);
        threads_.emplace_back([this, client, server] { pump(client, server); });
    }
}

std::string fault_proxy::rewrite(std::string& pending) {
    std::string marker;
    char with = 0;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        marker = marker_;
        with = with_;
    }
    if (marker.empty()) return std::exchange(pending, std::string());
    for (std::size_t at = pending.find(marker); at != std::string::npos; at = pending.find(marker, at + 1)) {
        pending[at] = with;
        ++corrupted_;
    }
    // Hold back the longest tail that could be the start of the marker.
    std::size_t hold = 0;
    for (std::size_t n = std::min(marker.size() - 1, pending.size()); n > 0; --n) {
        if (pending.compare(pending.size() - n, n, marker, 0, n) == 0) {
            hold = n;
            break;
        }
    }
    std::string out = pending.substr(0, pending.size() - hold);
    pending.erase(0, pending.size() - hold);
    return out;
}

void fault_proxy::pump(int client_fd, int server_fd) {
    detail::fd_guard c{client_fd};
    detail::fd_guard s{server_fd};
    std::string back;  // from the target, not yet sent to the client
    char buf[64 * 1024];
    while (!stop_) {
        pollfd p[2] = {{client_fd, POLLIN, 0}, {server_fd, POLLIN, 0}};
        const int r = ::poll(p, 2, 100);
        if (r < 0 && errno != EINTR) return;
        if (r <= 0) continue;
        if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t n = ::recv(client_fd, buf, sizeof buf, 0);
            if (n <= 0 || !send_all(server_fd, buf, static_cast<std::size_t>(n))) return;
        }
        if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
            const ssize_t n = ::recv(server_fd, buf, sizeof buf, 0);
            if (n <= 0) return;
            back.append(buf, static_cast<std::size_t>(n));
            const std::string out = rewrite(back);
            if (!send_all(client_fd, out.data(), out.size())) return;
        }
    }
}

}  // namespace herdguard::test
