// Where herdguard sends its own commands to Redis, addressed by key: the caller names the key a
// command touches and which Redis answers is the backend's business. One Redis today (a
// connection, or a worker's shared connections round-robin); a cluster's slot owner later,
// behind the same call, without the herd engine changing.
//
// Each command's reply reaches its handler exactly once, on the backend's executor; replies to
// commands sent for the same key come back in the order sent.
#pragma once

#include <initializer_list>
#include <span>
#include <string_view>

#include "herdguard/upstream/reply_handler.h"

namespace herdguard {

class backend {
public:
    // `key`: the key the command is about ("" for none). `handler` may be discard_reply().
    virtual void request(std::string_view key, std::span<const std::string_view> argv, reply_handler* handler) = 0;
    void request(std::string_view key, std::initializer_list<std::string_view> argv, reply_handler* handler) {
        request(key, std::span<const std::string_view>(argv.begin(), argv.size()), handler);
    }

protected:
    ~backend() = default;
};

}  // namespace herdguard
