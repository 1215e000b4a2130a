// MGET with routed keys, key by key: routed keys through the read-through path, the others as
// plain GETs, the replies assembled in order. Errors follow MGET's rules: a key of the wrong type
// is nil; an unavailable Redis or upstream fails the whole MGET with its error.
//
// The session sends one GET (or read-through GET) per key with part_handler(i) as its reply
// handler, then calls dispatched(). The gather deletes itself once the last part is in and the
// assembled reply has gone to `slot`.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/resp/reply.h"
#include "herdguard/upstream/reply_handler.h"

namespace herdguard {

class mget_gather {
public:
    // `protocol`: the client's (2 or 3), for the nulls of the assembled array.
    mget_gather(reply_handler& slot, std::size_t keys, int protocol = 2);
    mget_gather(const mget_gather&) = delete;
    mget_gather& operator=(const mget_gather&) = delete;

    reply_handler& part_handler(std::size_t i) { return handlers_[i]; }
    void dispatched() { done_one(); }  // the extra count that keeps us alive while dispatching

private:
    struct part final : reply_handler {
        part() = default;
        part(mget_gather* o, std::size_t i) : op(o), index(i) {}
        mget_gather* op = nullptr;
        std::size_t index = 0;
        void on_reply(std::string_view raw) override { op->store(index, raw); }
        void on_failure(std::string_view raw) override { op->store(index, raw); }
    };

    ~mget_gather() = default;
    void store(std::size_t i, std::string_view raw);
    void done_one();

    reply_handler& slot_;
    std::vector<std::string> parts_;
    std::vector<part> handlers_;
    std::size_t pending_;
    resp::protocol_version protocol_;
};

}  // namespace herdguard
