// The receiver of one reply from Redis (or from herdguard's own paths). Kept apart from the
// connection so pure code (the reply queue, the MGET gather, the INFO wrapper) needs no Asio
// headers.
#pragma once

#include <string_view>

namespace herdguard {

// Receives the reply to one request, exactly once, on the connection's executor.
class reply_handler {
public:
    virtual void on_reply(std::string_view raw) = 0;            // the exact bytes of one reply
    virtual void on_failure(std::string_view error_reply) = 0;  // a complete "-ERR ...\r\n"

protected:
    ~reply_handler() = default;
};

// Hands one reply on to the handler another one wraps, as a reply or as a failure.
inline void hand_on(reply_handler* inner, std::string_view raw, bool failure) {
    if (failure) inner->on_failure(raw);
    else inner->on_reply(raw);
}

// A handler that drops the reply: for commands herdguard sends on a client's behalf (replaying
// CLIENT SETNAME on a new private connection, revoking a lease).
reply_handler& discard_reply();

}  // namespace herdguard
