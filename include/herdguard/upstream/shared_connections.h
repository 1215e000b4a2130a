// One worker's shared, pipelined connections to Redis (redis.connections_per_thread), handed out
// round-robin to its sessions and to the herd engine's flights. Single-threaded: used on its
// worker's thread; the admin endpoints only read is_up() of each, which is atomic.
#pragma once

#include <cstddef>
#include <memory>
#include <vector>

#include "herdguard/upstream/redis_connection.h"

namespace herdguard {

class shared_connections final : public backend {
public:
    void add(std::shared_ptr<redis_connection> c) { all_.push_back(std::move(c)); }
    redis_connection& pick() {
        auto& c = *all_[next_];
        next_ = (next_ + 1) % all_.size();
        return c;
    }
    const std::vector<std::shared_ptr<redis_connection>>& all() const { return all_; }
    // backend: each command on the next connection (one Redis behind all of them).
    using backend::request;
    void request(std::string_view, std::span<const std::string_view> argv, reply_handler* handler) override {
        pick().send_command(argv, handler);
    }

private:
    std::vector<std::shared_ptr<redis_connection>> all_;
    std::size_t next_ = 0;
};

}  // namespace herdguard
