// Where a flight loads a value from: the route's upstream. An interface, so the herd engine's
// unit tests drive flights with a scripted loader instead of an HTTP server; http_loader is the
// one the proxy uses.
#pragma once

#include <cstdint>
#include <string>

#include <boost/asio/awaitable.hpp>

#include "herdguard/config/units.h"
#include "herdguard/util/upstream_url.h"

namespace herdguard {

struct load_result {
    enum class kind { ok, not_found, failed };
    kind outcome = kind::failed;
    std::string body;    // ok: the value
    std::string reason;  // failed: why
};

class loader {
public:
    // GET `target` from the upstream at `url`, within `timeout` for the whole call; a body over
    // `max_body` bytes is a failure.
    virtual boost::asio::awaitable<load_result> load(const upstream_url& url, std::string target, duration timeout,
                                                     std::uint64_t max_body) = 0;

protected:
    ~loader() = default;
};

}  // namespace herdguard
