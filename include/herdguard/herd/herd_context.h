// What the herd engine uses of the thread it runs on, and nothing more: the io_context its
// waiters' timers and its flights run on, the thread's fresh memo, its HTTP loader and its shared
// Redis connections. The worker owns one; the engine never sees the worker, the session or the
// server (so herd/ includes nothing from server/).
#pragma once

#include <boost/asio/io_context.hpp>

#include "herdguard/herd/fresh_memo.h"
#include "herdguard/loader/http_loader.h"
#include "herdguard/upstream/shared_connections.h"

namespace herdguard {

struct herd_context {
    boost::asio::io_context& io;
    fresh_memo& memo;  // routed keys seen fresh on this thread (fresh_memo.h)
    http_loader& http;
    shared_connections& redis;  // flights read and write through these
};

}  // namespace herdguard
