// A TCP proxy of the tests' own between herdguard and Redis, for faults a real Redis never
// makes: bytes rewritten on their way back (a corrupt reply). It listens on a free loopback port
// and forwards each connection to 127.0.0.1:<target>, both ways, on one thread per connection.
// Every wait is a bounded poll (100 ms) that checks for stop; the destructor stops and joins all
// of its threads and closes every socket.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace herdguard::test {

class fault_proxy {
  public:
    explicit fault_proxy(std::uint16_t target_port);
    ~fault_proxy();
    fault_proxy(const fault_proxy&) = delete;
    fault_proxy& operator=(const fault_proxy&) = delete;

    std::uint16_t port() const { return port_; }
    // From now on, every occurrence of `marker` in bytes coming back from the target has its
    // first byte replaced by `with` (the marker may span reads: a tail that could start it is
    // held back until the next read decides).
    void corrupt(std::string marker, char with);
    // Occurrences rewritten so far.
    int corrupted() const { return corrupted_.load(); }

  private:
    void accept_loop();
    void pump(int client_fd, int server_fd);
    std::string rewrite(std::string& pending);  // what may be sent of `pending` now

    std::uint16_t target_;
    std::uint16_t port_ = 0;
    int listen_fd_ = -1;
    std::atomic<bool> stop_{false};
    std::atomic<int> corrupted_{0};
    std::mutex mutex_;  // guards marker_, with_ and threads_
    std::string marker_;
    char with_ = 0;
    std::thread acceptor_;
    std::vector<std::thread> threads_;
};

}  // namespace herdguard::test
