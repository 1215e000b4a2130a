// The request/reply bookkeeping of one pipelined Redis connection, with no I/O (as Boost.Redis
// keeps its multiplexer apart from its sockets): the handlers waiting for replies, in order, their
// deadlines and the bound on how many may wait; and the delivery of the replies in bytes read
// from Redis. The connection owns the socket and the read buffer and feeds this the bytes; the
// unit tests feed it bytes directly.
//
// Single-threaded: used on its connection's executor only.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>

#include "herdguard/resp/reply_framer.h"
#include "herdguard/upstream/reply_handler.h"

namespace herdguard {

class reply_pipeline {
public:
    using clock = std::chrono::steady_clock;
    struct pending_request {
        reply_handler* handler;
        clock::time_point deadline;  // time_point::max(): no timeout (blocking commands)
    };

    explicit reply_pipeline(std::size_t max_pending) : max_pending_(max_pending) {}

    bool full() const { return pending_.size() >= max_pending_; }
    std::size_t size() const { return pending_.size(); }
    bool empty() const { return pending_.empty(); }
    // A request was written (or queued for writing): its reply goes to `handler`.
    void expect(reply_handler* handler, clock::time_point deadline) { pending_.push_back({handler, deadline}); }
    // The same for a request written ahead of every queued one.
    void expect_first(reply_handler* handler, clock::time_point deadline) { pending_.push_front({handler, deadline}); }
    // True when the oldest request is past its deadline. Redis answers in order, so if it is
    // late, all are.
    bool overdue(clock::time_point now) const { return !pending_.empty() && pending_.front().deadline < now; }

    enum class delivery { ok, bad_reply, unexpected_reply };
    // Frames the replies at the start of `data` and hands each to its handler, in order; one that
    // matches no request goes to `push_sink` (relay mode: pub/sub messages, MONITOR) or, without
    // a sink, means we are out of step with Redis. A RESP3 push (">") is never a reply: it goes
    // to `push_sink` wherever it falls between replies (invalidations of CLIENT TRACKING, pub/sub
    // messages). Without a sink it goes with the next reply to the oldest request, in front of
    // it (the bytes handed on are the pushes and the reply, as Redis sent them), or is dropped
    // when nothing is pending (counted in `pushes_dropped`). `consumed` gets the bytes delivered
    // (a partial reply, and the pushes before it, stay for the next call, which must start there).
    // Stops early, after a reply, once `stopped` is true (a handler stopped the connection).
    delivery deliver(std::string_view data, std::size_t& consumed,
                     const std::function<void(std::string_view)>& push_sink, const bool& stopped);
    const std::string& framing_error() const { return framer_.error(); }
    std::uint64_t pushes_dropped() const { return pushes_dropped_; }

    // A new connection: no partial reply carries over.
    void reset_framing() { framer_.reset(); }
    // Every waiting request, taken out (to fail them when the connection breaks). Taken before
    // failing, since a handler may queue a new request from inside on_failure.
    std::deque<pending_request> take_all() {
        std::deque<pending_request> out;
        out.swap(pending_);
        return out;
    }

private:
    std::size_t max_pending_;
    std::deque<pending_request> pending_;
    resp::reply_framer framer_;
    std::uint64_t pushes_dropped_ = 0;
};

}  // namespace herdguard
