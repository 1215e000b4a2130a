// One worker's shared, pipelined connections to Redis (redis.connections_per_thread), handed out
// round-robin to its sessions and to the herd engine's flights. Single-threaded: used on its
// worker's thread; the admin endpoints only read is_up() of each, which is atomic.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <vector>

#include "herdguard/resp/command_keys.h"
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
    // backend: one Redis behind all of them. A key always goes to the same connection, so the
    // replies for one key come back in the order sent (backend.h's promise, which round-robin
    // per command would break); keyless commands take turns.
    using backend::request;
    void request(std::string_view key, std::span<const std::string_view> argv, reply_handler* handler) override {
        for_key(key).send_command(argv, handler);
    }
    void pass(const passthrough& cmd, reply_handler* handler) override { for_key(resp::first_key(cmd.argv)).pass(cmd, handler); }

private:
    redis_connection& for_key(std::string_view key) {
        return key.empty() || all_.size() == 1 ? pick() : *all_[std::hash<std::string_view>{}(key) % all_.size()];
    }

    std::vector<std::shared_ptr<redis_connection>> all_;
    std::size_t next_ = 0;
};

}  // namespace herdguard
