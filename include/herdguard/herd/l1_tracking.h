// What keeps L1 coherent with Redis: one dedicated RESP3 connection with
// `CLIENT TRACKING ON BCAST PREFIX <p>...` over the literal prefixes of the routes with L1
// (herd_engine::l1_prefixes). Redis then pushes `invalidate [keys]` for every write to a key
// under them, from any client, and `invalidate <null>` on FLUSHALL/FLUSHDB; each removes the keys
// (or everything) from every route's L1. Why BCAST and not default mode with REDIRECT: the reads
// that fill L1 run on every worker's shared connections, and default mode tracks the keys a
// connection read, so each shared connection (and each of its reconnects) would need its own
// REDIRECT to this one, and Redis would keep a table entry per key read (`tracking-table-max-keys`
// evicts them, which sends an invalidation: safe, but a flood of misses). BCAST keeps no per-key
// state in Redis and costs one push per write under the prefixes, whether or not L1 holds the
// key. docs/DESIGN.md ("L1") has the whole argument.
//
// L1 serves only while this connection is known good: after CLIENT TRACKING answered +OK and a
// write of our own canary key (under a prefix unique to this process, tracked too) came back as
// an invalidation push within `ping_deadline` (so pushes really arrive: a server or a proxy in
// between that accepts CLIENT TRACKING but never pushes leaves L1 off), and while a PING every
// `ping_every` is answered within `ping_deadline`. A break, a refused connect, a late PING: L1
// goes off and is emptied at once (herd_engine::l1_set_active(false)), and comes back, empty,
// only after the next +OK and canary. Reconnects back off from 50 ms to 1 s, with jitter; a
// refusal (HELLO 3, CLIENT TRACKING or the canary write) is asked again every 30 s.
//
// Runs on one worker's executor; the link is that worker's (open_link). Thread-safe to stop()
// and to routes_changed() from any thread (both post to that executor).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/steady_timer.hpp>

#include "herdguard/herd/read_through.h"
#include "herdguard/upstream/backend.h"
#include "herdguard/util/log_limiter.h"

namespace herdguard {

class l1_tracking : public std::enable_shared_from_this<l1_tracking> {
public:
    using link_factory = std::function<std::shared_ptr<client_link>()>;
    static constexpr std::chrono::milliseconds ping_every{1000};
    static constexpr std::chrono::milliseconds ping_deadline{1000};
    static constexpr std::string_view client_name = "herdguard-l1-tracking";

    l1_tracking(boost::asio::any_io_executor ex, herd_engine& herd, link_factory open_link);

    void start();
    void stop();
    // SIGHUP: when the routes' L1 prefixes changed, start over with the new ones.
    void routes_changed();
    // The CLIENT TRACKING command for these prefixes and the canary's (pure; unit-tested).
    static std::vector<std::string> tracking_command(const std::vector<std::string>& prefixes,
                                                     const std::string& canary_prefix = "");
    // Reads the usual invalidation push without building a reply tree (one arrives per write to
    // a tracked prefix, by anyone): `>2` (or `*2`), the bulk "invalidate", then an array of bulk
    // keys (`keys`) or a null (`all`: a flush). False for any other shape, which the caller then
    // reads the slow, general way. Pure; unit-tested against the general decoder.
    static bool read_invalidation(std::string_view raw, std::vector<std::string_view>& keys, bool& all);

private:
    void connect();
    void established(std::uint64_t gen);
    void confirmed(std::uint64_t gen);
    void lost(std::uint64_t gen, std::string_view reason);
    void schedule_ping(std::uint64_t gen);
    void on_push(std::string_view raw);
    void invalidated(std::string_view key);  // one key of a push: the canary, or an L1 entry

    boost::asio::any_io_executor ex_;
    herd_engine& herd_;
    link_factory open_link_;
    std::shared_ptr<client_link> link_;
    std::vector<std::string> prefixes_;
    std::string canary_prefix_;  // "herdguard:l1-canary:<random>:", this process's own
    std::string canary_key_;     // written after +OK; its push turns L1 on
    boost::asio::steady_timer timer_;       // reconnect backoff, or the next PING
    boost::asio::steady_timer deadline_;    // the canary's push, or the PING in flight, by then
    std::uint64_t gen_ = 0;                 // one per link: callbacks of an older one are ignored
    std::chrono::milliseconds backoff_{50};
    bool up_ = false;
    bool started_ = false;
    bool stopped_ = false;
    log_limiter log_{std::chrono::seconds(10)};
};

}  // namespace herdguard
