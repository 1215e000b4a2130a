// Loads one value from a route's upstream over HTTP/1.1 (Boost.Beast), with a pool of keep-alive
// connections per host. The whole call, connect included, has one deadline (load_timeout).
//
// Outcomes: 200 -> ok (the body is the value), 404 -> not_found, anything else, a timeout, a
// refused or broken connection, bad headers or a body over max_value_bytes -> failed, with a
// reason meant for the client's error reply ("HTTP 500", "timeout after 2000ms", ...).
//
// Threading: one loader per worker; all calls on that worker's executor.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "herdguard/config/units.h"
#include "herdguard/loader/loader.h"
#include "herdguard/util/upstream_url.h"

namespace herdguard {

class http_loader final : public loader {
public:
    explicit http_loader(boost::asio::any_io_executor ex, std::size_t max_idle_per_host = 16);
    ~http_loader();
    http_loader(const http_loader&) = delete;
    http_loader& operator=(const http_loader&) = delete;

    boost::asio::awaitable<load_result> load(const upstream_url& url, std::string target, duration timeout,
                                             std::uint64_t max_body) override;

    std::size_t idle_connections() const;

private:
    struct pool;
    boost::asio::any_io_executor ex_;
    std::size_t max_idle_;
    std::map<std::string, std::unique_ptr<pool>> pools_;  // by "host:port"
};

}  // namespace herdguard
