// What the herd engine uses of the thread it runs on, and nothing more: the io_context its
// waiters' timers and its flights run on, the thread's fresh memo, a loader (the HTTP loader) and
// a backend for the flights' commands (the thread's shared Redis connections). The worker owns
// one; the engine never sees the worker, the session or the server (so herd/ includes nothing
// from server/), and its unit tests build one around a scripted backend and loader.
#pragma once

#include <chrono>
#include <cstdint>

#include <boost/asio/io_context.hpp>

#include "herdguard/herd/fresh_memo.h"
#include "herdguard/herd/herd_clock.h"
#include "herdguard/loader/loader.h"
#include "herdguard/upstream/backend.h"
#include "herdguard/util/random.h"

namespace herdguard {

struct herd_context {
    boost::asio::io_context& io;
    fresh_memo& memo;  // routed keys seen fresh on this thread (fresh_memo.h)
    loader& http;
    backend& redis;  // flights take leases and write back through it
    // The engine's randomness, injectable for tests: lease tokens and TTL jitter. (Its clock,
    // timers included, is herd_clock.h's, injectable the same way.)
    std::uint64_t (*random)() = &thread_random;
};

}  // namespace herdguard
