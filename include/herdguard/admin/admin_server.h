// The admin HTTP listener (admin.listen, loopback by default): GET /metrics (Prometheus text),
// /healthz (200 while the process serves), /readyz (200 when a shared Redis connection is up and
// the process is not draining, else 503). One small request per connection at a time, each read
// and write bounded by a 5 s deadline; at most 64 admin connections.
#pragma once

#include <atomic>
#include <memory>

#include <boost/asio/io_context.hpp>

#include "herdguard/config/config.h"

namespace herdguard {

class stats_source;

class admin_server {
public:
    admin_server(boost::asio::io_context& ctx, const admin_config& cfg, const stats_source& state);
    ~admin_server();
    admin_server(const admin_server&) = delete;
    admin_server& operator=(const admin_server&) = delete;

    void start();  // binds (throws std::runtime_error naming the address) and serves
    void stop();
    void set_draining(bool d) { draining_.store(d, std::memory_order_relaxed); }

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    std::atomic<bool> draining_{false};
};

}  // namespace herdguard
