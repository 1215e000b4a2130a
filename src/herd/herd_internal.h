// What the herd engine's files share (src/herd/, not a public header): the flight table's types,
// the counters' and histograms' small helpers, and the steps each file calls in another.
//
//   read_through.cpp  the engine: routes, reload, lookups, INFO and the flight listing
//   read_step.cpp     steps 0-2: join a running load, read Redis, decide fresh / stale / miss
//   flight_table.cpp  step 3 and 7: join or start the flight, wait with a deadline, answer all
//   lease_load.cpp    steps 4-6: the lease, the load behind the breaker, the write-back
//   lease_scripts.h   the Lua scripts of steps 4 and 6
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>

#include "herdguard/herd/herd_context.h"
#include "herdguard/herd/read_through.h"
#include "herdguard/util/clocks.h"

namespace herdguard {

namespace asio = boost::asio;

// The flight table's types (herdguard::flight is what route_runtime's table holds).

// How a flight ended, for its waiters.
struct flight_result {
    enum class kind { value, not_found, error, none };
    kind outcome = kind::none;
    std::string reply;  // value: the encoded bulk; error: the error text (no '-', no CRLF)
};

// One waiting GET. Lives on its session's executor; only `flight` bookkeeping is shared, under
// the route mutex.
struct waiter : std::enable_shared_from_this<waiter> {
    waiter(asio::any_io_executor e, reply_handler& s) : ex(e), slot(&s), timer(e) {}
    asio::any_io_executor ex;
    reply_handler* slot;
    std::shared_ptr<const std::string> fallback;  // a raw GET reply still usable on error
    herd_timer timer;  // wait_timeout, on the herd clock (herd_clock.h)
    bool done = false;
    bool started_flight = false;        // this request's miss started the load ("loaded")
    herd_clock::time_point request_start{};  // when the GET arrived
    herd_clock::time_point wait_start{};     // when it joined the flight
};

struct flight {
    std::string key;
    herd_clock::time_point started = herd_clock::now();
    bool background = false;  // a stale-while-revalidate refresh
    // An early refresh (XFetch) of a value with this much fresh life left when it was read (ms);
    // -1 otherwise. ACQUIRE then counts a value as already refreshed only when it has more.
    std::int64_t early_ms = -1;
    std::shared_ptr<const std::string> fallback;   // route mutex: usable-on-error value, for joiners
    std::vector<std::shared_ptr<waiter>> waiters;  // route mutex
    std::size_t live_waiters = 0;                  // route mutex: not yet answered
    bool finished = false;                         // route mutex
};

}  // namespace herdguard

namespace herdguard::herd_detail {

using clock = herd_clock;

inline void bump(sharded_counter& c) { c.fetch_add(1); }

// Never a negative duration, whatever a test does with the herd clock.
inline void observe(latency_histogram& h, clock::time_point since, clock::time_point now = clock::now()) {
    h.observe(now > since ? std::chrono::duration_cast<std::chrono::microseconds>(now - since)
                          : std::chrono::microseconds(0));
}

inline void observe_request(route_runtime& r, get_outcome o, clock::time_point since) {
    observe(r.latency.request[static_cast<std::size_t>(o)], since);
}

// The hit path's clock: the time its batch of requests (or of replies) was read, not a clock read
// per request (util/clocks.h, event_clock). A test's herd clock is read as it is.
inline clock::time_point batch_now() { return clock::is_real() ? event_clock::now() : clock::now(); }

// A hit's latency, stamped with batch_now(): from its request's batch to its reply's.
inline void observe_hit(route_runtime& r, clock::time_point since) {
    observe(r.latency.request[static_cast<std::size_t>(get_outcome::fresh)], since, batch_now());
}

// How long a value stays in Redis after its fresh time: long enough to be served stale while
// refreshing, and as a fallback when loads fail.
inline std::int64_t keep_ms(const route_config& c) { return std::max(c.stale_for, c.stale_if_error).count(); }

// "ERR herdguard: upstream '<route>' unavailable (<why>)", the text of a failed load's error.
std::string upstream_error(const route_runtime& r, std::string_view why);

// Step 3 (flight_table.cpp): join or start the flight for `key`, with a deadline for this waiter.
// With `join_only`, only joins a running foreground load, and returns false when there is none.
bool wait_for_load(route_runtime& r, const std::string& key, herd_context& hc, reply_handler& slot,
                   std::shared_ptr<const std::string> fallback, clock::time_point request_start,
                   bool join_only = false);

// Stale-while-revalidate (flight_table.cpp): starts one background refresh of `key` unless one
// runs, or loads are at max_concurrent_loads.
// `early_ms` >= 0: an early refresh (XFetch) of a value that had that much fresh life left.
void refresh_in_background(route_runtime& r, const std::string& key, herd_context& hc, std::int64_t early_ms = -1);

// Step 7 (flight_table.cpp): ends a flight and answers every waiter, each on its own thread.
void finish(route_runtime& r, const std::shared_ptr<flight>& f, flight_result result);

// Steps 4-6 (lease_load.cpp): the flight's life, on the thread that started it. `run_unprotected`
// is protect: false, plain cache-aside.
asio::awaitable<void> run_flight(route_runtime& r, std::shared_ptr<flight> f, herd_context& hc);
asio::awaitable<void> run_unprotected(route_runtime& r, std::shared_ptr<flight> f, herd_context& hc);

}  // namespace herdguard::herd_detail
