// The life of a routed GET
// ------------------------
//  0. join      a load of this key already running in this process? join it (step 3) without
//               reading Redis: during a herd, Redis sees one read, not one per client.
//  1. read      PTTL key + GET key, pipelined on the client's shared connection (one round trip);
//               GET alone while the worker's fresh memo knows the key fresh (fresh_memo.h).
//  2. fresh  -> answer the value.            stale (within stale_for) -> answer it, and start one
//               background refresh.          miss (or only usable on error) -> 3.
//  3. coalesce  join the flight for this key in this process, or start it (single flight across
//               every worker thread). Each waiter has its own wait_timeout timer.
//  4. lease     the flight runs ACQUIRE in Redis: remembered 404 -> nil; fresh value -> done;
//               remembered failure -> error; else SET lock NX PX lock_ttl: won -> 5;
//               lost -> poll ACQUIRE until the holder's value (or failure) appears, or its lease
//               expires and this flight takes it over.
//  5. load      behind max_concurrent_loads and the route's circuit breaker, HTTP GET upstream.
//  6. write     WRITE_* script: only while our token still holds the lease, SET the value with a
//               jittered TTL (+ the stale window), or remember a 404 / a failure; release.
//  7. answer    every waiter at once, on its own thread: the value, nil, or stale data / a clear
//               error. Nothing waits past wait_timeout; nothing lingers in the flight table.
#include "herdguard/herd/read_through.h"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "herdguard/herd/herd_context.h"
#include "herdguard/loader/http_loader.h"
#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_value.h"
#include "herdguard/resp/reply_view.h"
#include "herdguard/resp/request_parser.h"
#include "herdguard/util/random.h"

namespace herdguard {

namespace {

using clock = std::chrono::steady_clock;

// KEYS: value, lock, negative, failure. ARGV: token, lock_ttl_ms, keep_ms, waited (1: this flight
// found the lease held before). Checks and takes the lease in one step, so a value written
// between our read and our SET NX is seen here and never loaded twice. A failure remembered only
// for the flights that waited on the failed load (marked '~', see remember_failure) is news to
// those flights alone; a new read loads again.
constexpr std::string_view acquire_script = R"lua(
if redis.call('EXISTS', KEYS[3]) == 1 then return {'neg'} end
local v = redis.call('GET', KEYS[1])
if v then
  local pttl = redis.call('PTTL', KEYS[1])
  if pttl == -1 or pttl > tonumber(ARGV[3]) then return {'hit', v} end
end
local f = redis.call('GET', KEYS[4])
if f then
  if string.sub(f, 1, 1) ~= '~' then return {'failed', f} end
  if ARGV[4] == '1' then return {'failed', string.sub(f, 2)} end
end
if redis.call('SET', KEYS[2], ARGV[1], 'NX', 'PX', ARGV[2]) then return {'won'} end
return {'lost'}
)lua";

// KEYS: value, lock, negative. ARGV: token, value, px. Written only while our lease holds.
constexpr std::string_view write_value_script = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('DEL', KEYS[2], KEYS[3])
return 1
)lua";

// KEYS: value, lock, negative. ARGV: token, px. The upstream says the key does not exist.
constexpr std::string_view write_negative_script = R"lua(
if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
if tonumber(ARGV[2]) > 0 then redis.call('SET', KEYS[3], '1', 'PX', ARGV[2]) end
return 1
)lua";

// KEYS: lock, failure. ARGV: token, reason, px. Release, remembering the failure fleet-wide.
constexpr std::string_view write_failure_script = R"lua(
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
if tonumber(ARGV[3]) > 0 then redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3]) end
return 1
)lua";

// One Redis command as an awaitable: the reply (or the connection's failure) resumes the
// coroutine through its executor, never inline inside the connection's read loop.
template <class Handler>
struct call_op final : reply_handler {
    explicit call_op(Handler h) : handler(std::move(h)) {}
    Handler handler;
    void on_reply(std::string_view raw) override { finish(resp::decode_reply(raw)); }
    void on_failure(std::string_view error) override { finish(resp::decode_reply(error)); }
    void finish(resp::reply_value v) {
        auto h = std::move(handler);
        delete this;
        auto ex = asio::get_associated_executor(h);
        asio::post(ex, [h = std::move(h), v = std::move(v)]() mutable { std::move(h)(std::move(v)); });
    }
};

asio::awaitable<resp::reply_value> call(redis_connection& conn, std::vector<std::string> argv) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(resp::reply_value)>(
        [&conn](auto handler, std::vector<std::string> args) {
            std::vector<std::string_view> views(args.begin(), args.end());
            auto* op = new call_op<decltype(handler)>(std::move(handler));
            conn.send_command(views, op);
        },
        asio::use_awaitable, std::move(argv));
}

std::string random_token() {
    auto& rng = thread_rng();
    return fmt::format("{:016x}{:016x}", rng(), rng());
}

// ttl * (1 ± jitter), at least 1 ms.
std::int64_t jittered_ms(duration ttl, double jitter) {
    double f = 1.0 + jitter * (2.0 * thread_uniform01() - 1.0);
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(ttl.count()) * f));
}

// How long a value stays in Redis after its fresh time: long enough to be served stale while
// refreshing, and as a fallback when loads fail.
std::int64_t keep_ms(const route_config& c) { return std::max(c.stale_for, c.stale_if_error).count(); }

// A failed load is remembered in Redis for error_ttl. Even with error_ttl 0 ("off"), the flights
// on other instances that wait for this lease must learn of the failure and answer their waiters,
// instead of taking the lease over one after another and loading the failing key once per
// instance. So a shorter memory is stretched to outlive one poll interval (<= 100 ms), marked '~':
// ACQUIRE reports it only to flights that waited; a new read loads again, as "off" promises.
constexpr duration failure_floor{250};
struct failure_memory {
    std::string reason;
    duration px;
};
failure_memory remember_failure(const route_config& c, std::string reason) {
    if (c.error_ttl >= failure_floor) return {std::move(reason), c.error_ttl};
    reason.insert(0, 1, '~');  // not "~" + reason: GCC 12 misreads that as overlapping (PR 105329)
    return {std::move(reason), failure_floor};
}

std::string upstream_error(const route_runtime& r, std::string_view why) {
    return fmt::format("ERR herdguard: upstream '{}' unavailable ({})", r.cfg.name, why);
}

void bump(std::atomic<std::uint64_t>& c) { c.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

const char* outcome_name(get_outcome o) {
    switch (o) {
        case get_outcome::fresh: return "fresh";
        case get_outcome::stale: return "stale";
        case get_outcome::loaded: return "loaded";
        case get_outcome::waited: return "waited";
        case get_outcome::error: return "error";
        case get_outcome::count_: break;
    }
    return "?";
}

std::vector<std::pair<std::string, std::string>> route_gauges(const route_runtime& r) {
    return {
        {"waiters_now", std::to_string(r.waiters_now.load(std::memory_order_relaxed))},
        {"loads_in_flight", std::to_string(r.loads_in_flight.load(std::memory_order_relaxed))},
        {"breaker_state", circuit_breaker::name(r.breaker.current())},
        {"breaker_trips", std::to_string(r.breaker.trips())},
    };
}

std::string lock_key(std::string_view key) { return "herdguard:lock:" + std::string(key); }
std::string negative_key(std::string_view key) { return "herdguard:neg:" + std::string(key); }
std::string failure_key(std::string_view key) { return "herdguard:fail:" + std::string(key); }

// ---------------------------------------------------------------------------------------------
// Flights and waiters.

struct flight_result {
    enum class kind { value, not_found, error, none };
    kind outcome = kind::none;
    std::string reply;  // value: the encoded bulk; error: the error text (no '-', no CRLF)
};

// One waiting GET. Lives on its session's executor; only `flight` bookkeeping is shared, under
// the route mutex.
struct waiter {
    waiter(asio::any_io_executor e, reply_handler& s) : ex(e), slot(&s), timer(e) {}
    asio::any_io_executor ex;
    reply_handler* slot;
    std::shared_ptr<const std::string> fallback;  // a raw GET reply still usable on error
    asio::steady_timer timer;
    bool done = false;
    bool started_flight = false;        // this request's miss started the load ("loaded")
    clock::time_point request_start{};  // when the GET arrived
    clock::time_point wait_start{};     // when it joined the flight
};

void observe(latency_histogram& h, clock::time_point since) {
    h.observe(std::chrono::duration_cast<std::chrono::microseconds>(clock::now() - since));
}

void observe_request(route_runtime& r, get_outcome o, clock::time_point since) {
    observe(r.latency.request[static_cast<std::size_t>(o)], since);
}

struct flight {
    std::string key;
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
    bool background = false;  // a stale-while-revalidate refresh
    std::shared_ptr<const std::string> fallback;   // route mutex: usable-on-error value, for joiners
    std::vector<std::shared_ptr<waiter>> waiters;  // route mutex
    std::size_t live_waiters = 0;                  // route mutex: not yet answered
    bool finished = false;                         // route mutex
};

route_runtime::route_runtime(const route_config& c)
    : cfg(c),
      pattern(c.match),
      url(parse_upstream_url(c.upstream).value_or(upstream_url{})),
      breaker(c.breaker, c.load_timeout) {}

herd_engine::herd_engine(const std::vector<route_config>& routes) { reload(routes); }

herd_engine::~herd_engine() = default;

std::size_t herd_engine::reload(const std::vector<route_config>& routes) {
    std::lock_guard lock(reload_mutex_);
    const route_list* current = active_.load(std::memory_order_acquire);
    auto next = std::make_unique<route_list>();
    std::size_t kept = 0;
    for (const auto& cfg : routes) {
        route_runtime* same = nullptr;
        if (current != nullptr) {
            for (auto* r : *current)
                if (r->cfg == cfg) same = r;
        }
        if (same != nullptr) {
            ++kept;
            next->push_back(same);
        } else {
            runtimes_.push_back(std::make_unique<route_runtime>(cfg));
            next->push_back(runtimes_.back().get());
        }
    }
    lists_.push_back(std::move(next));
    active_.store(lists_.back().get(), std::memory_order_release);
    return kept;
}

route_runtime* herd_engine::find_route(std::string_view key) const {
    for (auto* r : routes())
        if (r->pattern.match(key)) return r;
    return nullptr;
}

namespace {

// What a waiter that gets no value receives, unless it has stale data: encoded once per flight.
std::string error_bytes(const route_runtime& r, const flight_result& res) {
    return resp::error_reply(res.outcome == flight_result::kind::none ? upstream_error(r, "no value") : res.reply);
}

// Answers one waiter, on its executor, exactly once. `error` is error_bytes(r, res).
void answer(route_runtime& r, waiter& w, const flight_result& res, std::string_view error) {
    if (w.done) return;
    w.done = true;  // its wait_timeout timer, when it fires or is cancelled, sees this
    r.waiters_now.fetch_sub(1, std::memory_order_relaxed);
    observe(r.latency.wait, w.wait_start);
    const auto served = w.started_flight ? get_outcome::loaded : get_outcome::waited;
    switch (res.outcome) {
        case flight_result::kind::value:
            observe_request(r, served, w.request_start);
            w.slot->on_reply(res.reply);
            return;
        case flight_result::kind::not_found:
            observe_request(r, served, w.request_start);
            w.slot->on_reply(resp::null_reply(resp::protocol_version::resp2));  // clients speak RESP2
            return;
        case flight_result::kind::error:
        case flight_result::kind::none:
            break;
    }
    if (w.fallback) {  // stale_if_error: old data beats an error
        bump(r.counters.stale_served);
        observe_request(r, get_outcome::stale, w.request_start);
        w.slot->on_reply(*w.fallback);
        return;
    }
    bump(r.counters.errors);
    observe_request(r, get_outcome::error, w.request_start);
    w.slot->on_reply(error);
}

// Ends a flight: out of the table first (so new misses start a new one), then every waiter is
// answered on its own thread.
void finish(route_runtime& r, const std::shared_ptr<flight>& f, flight_result result) {
    std::vector<std::shared_ptr<waiter>> waiters;
    {
        std::lock_guard lock(r.mutex);
        auto it = r.flights.find(f->key);
        if (it != r.flights.end() && it->second == f) {
            r.flights.erase(it);
            if (!f->background) r.foreground_flights.fetch_sub(1, std::memory_order_relaxed);
        }
        f->finished = true;
        waiters.swap(f->waiters);
    }
    struct outcome {
        flight_result result;
        std::string error;
    };
    auto shared = std::make_shared<outcome>();
    if (result.outcome != flight_result::kind::value && result.outcome != flight_result::kind::not_found)
        shared->error = error_bytes(r, result);
    shared->result = std::move(result);
    // One post per worker thread, not one per waiter: a herd of 10,000 on one key is answered
    // by one handler on each thread instead of 10,000 queued ones.
    std::vector<std::pair<asio::any_io_executor, std::vector<std::shared_ptr<waiter>>>> by_thread;
    for (auto& w : waiters) {
        auto it = std::find_if(by_thread.begin(), by_thread.end(), [&](const auto& g) { return g.first == w->ex; });
        if (it == by_thread.end()) it = by_thread.insert(by_thread.end(), {w->ex, {}});
        it->second.push_back(std::move(w));
    }
    for (auto& [ex, group] : by_thread) {
        asio::post(ex, [&r, group = std::move(group), shared] {
            for (const auto& w : group) answer(r, *w, shared->result, shared->error);
            // Only then the timers: each cancel queues its handler (with operation_aborted), and
            // 10,000 of those ahead of the replies cost the last waiters ~10 ms.
            for (const auto& w : group) w->timer.cancel();
        });
    }
}

bool has_live_waiters(route_runtime& r, const flight& f) {
    std::lock_guard lock(r.mutex);
    return f.live_waiters > 0;
}

asio::awaitable<void> sleep_for(duration d) {
    asio::steady_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// Releases our lease without a value, remembering the failure fleet-wide for `remember`.
asio::awaitable<void> release_lease(redis_connection& conn, std::string key, std::string token, std::string reason,
                                    duration remember) {
    std::vector<std::string> release_args{"EVAL", std::string(write_failure_script), "2", lock_key(key), failure_key(key),
                         std::move(token), std::move(reason), std::to_string(remember.count())};
    co_await call(conn, std::move(release_args));
}

// Steps 5 and 6: load behind the concurrency bound and the breaker, then write back under the
// lease. Called only while holding the lease (`token`).
asio::awaitable<flight_result> load_and_write(route_runtime& r, const std::string& key, const std::string& token,
                                              redis_connection& conn, http_loader& http) {
    const auto& c = r.cfg;

    if (r.loads_in_flight.load(std::memory_order_relaxed) >= static_cast<std::int64_t>(c.max_concurrent_loads)) {
        bump(r.counters.loads_shed);
        co_await release_lease(conn, key, token, "", duration(0));
        co_return flight_result{flight_result::kind::error, upstream_error(r, "too many concurrent loads")};
    }
    auto permit = r.breaker.try_acquire();
    if (!permit) {
        bump(r.counters.loads_rejected_breaker);
        auto memory = remember_failure(c, "circuit open");
        co_await release_lease(conn, key, token, std::move(memory.reason), memory.px);
        co_return flight_result{flight_result::kind::error, upstream_error(r, "circuit open")};
    }

    std::vector<std::string_view> captures;
    r.pattern.match(key, &captures);
    std::string target = expand_target(r.url.target_template, key, captures);
    auto trips_before = r.breaker.trips();
    r.loads_in_flight.fetch_add(1, std::memory_order_relaxed);
    const auto load_start = clock::now();
    load_result res = co_await http.load(r.url, std::move(target), c.load_timeout, c.max_value_bytes);
    observe(r.latency.load, load_start);
    r.loads_in_flight.fetch_sub(1, std::memory_order_relaxed);
    r.breaker.record(*permit, res.outcome != load_result::kind::failed);  // a 404 is a healthy answer
    if (r.breaker.trips() != trips_before)
        spdlog::warn("route '{}': circuit opened after load failure ({})", c.name, res.reason);
    else if (permit->probe && r.breaker.current() == circuit_breaker::state::closed)
        spdlog::info("route '{}': circuit closed, upstream recovered", c.name);

    switch (res.outcome) {
        case load_result::kind::ok: {
            bump(r.counters.loads_ok);
            std::int64_t px = jittered_ms(c.ttl, c.ttl_jitter) + keep_ms(c);
            std::vector<std::string> write_args{"EVAL", std::string(write_value_script), "3", key, lock_key(key),
                                          negative_key(key), token, res.body, std::to_string(px)};
            auto w = co_await call(conn, std::move(write_args));
            if (w.type == resp::reply_type::integer && w.integer == 0) bump(r.counters.lock_lost_at_write);
            std::string bulk;
            resp::append_bulk(bulk, res.body);
            co_return flight_result{flight_result::kind::value, std::move(bulk)};
        }
        case load_result::kind::not_found: {
            bump(r.counters.loads_not_found);
            std::int64_t px = c.negative_ttl.count() > 0 ? jittered_ms(c.negative_ttl, c.ttl_jitter) : 0;
            std::vector<std::string> negative_args{"EVAL", std::string(write_negative_script), "3", key, lock_key(key),
                                          negative_key(key), token, std::to_string(px)};
            auto w = co_await call(conn, std::move(negative_args));
            if (w.type == resp::reply_type::integer && w.integer == 0) bump(r.counters.lock_lost_at_write);
            co_return flight_result{flight_result::kind::not_found, {}};
        }
        case load_result::kind::failed:
            break;
    }
    bump(r.counters.loads_failed);
    if (std::uint64_t suppressed = 0; r.failure_log.allow(suppressed))
        spdlog::warn("route '{}': load of '{}' failed: {} ({} similar lines suppressed)", c.name, key, res.reason,
                     suppressed);
    auto memory = remember_failure(c, res.reason);
    co_await release_lease(conn, key, token, std::move(memory.reason), memory.px);
    co_return flight_result{flight_result::kind::error, upstream_error(r, res.reason)};
}

// Step 4: the flight. Runs on the worker that started it; independent of any client, so a
// waiter that disconnects never cancels the load for the others.
asio::awaitable<void> run_flight(route_runtime& r, std::shared_ptr<flight> f, herd_context& hc) {
    const auto& c = r.cfg;
    redis_connection& conn = hc.redis.pick();
    const std::string token = random_token();
    const auto started = clock::now();
    // Waiting on another holder is bounded: its lease expires within lock_ttl, after which one
    // flight takes it over; waiters have their own (shorter) timers on top.
    const auto give_up = started + c.lock_ttl + c.wait_timeout;
    bool contended = false;
    flight_result result;

    while (true) {
        std::vector<std::string> acquire_args{"EVAL", std::string(acquire_script), "4", f->key, lock_key(f->key),
                                      negative_key(f->key), failure_key(f->key), token,
                                      std::to_string(c.lock_ttl.count()), std::to_string(keep_ms(c)),
                                      contended ? "1" : "0"};
        auto v = co_await call(conn, std::move(acquire_args));
        if (v.is_error() || v.type != resp::reply_type::array || v.elements.empty()) {
            result = {flight_result::kind::error,
                      v.is_error() ? v.str : std::string("ERR herdguard: unexpected reply from redis")};
            break;
        }
        const std::string& tag = v.elements[0].str;
        if (tag == "hit" && v.elements.size() == 2) {
            std::string bulk;
            resp::append_bulk(bulk, v.elements[1].str);
            result = {flight_result::kind::value, std::move(bulk)};
            break;
        }
        if (tag == "neg") {
            bump(r.counters.negative_hits);
            result = {flight_result::kind::not_found, {}};
            break;
        }
        if (tag == "failed") {
            bump(r.counters.failure_remembered);
            result = {flight_result::kind::error,
                      upstream_error(r, v.elements.size() == 2 ? v.elements[1].str : std::string("failed"))};
            break;
        }
        if (tag == "won") {
            bump(contended ? r.counters.lock_taken_over : r.counters.lock_acquired);
            if (std::uint64_t suppressed = 0; contended && r.takeover_log.allow(suppressed))
                spdlog::info("route '{}': took over the lease of '{}' ({} similar lines suppressed)", c.name, f->key,
                             suppressed);
            result = co_await load_and_write(r, f->key, token, conn, hc.http);
            break;
        }
        // "lost": another load holds the lease (here or on another instance).
        if (!contended) {
            bump(r.counters.lock_contended);
            contended = true;
        }
        if (!has_live_waiters(r, *f)) break;  // a background refresh: the holder refreshes
        auto now = clock::now();
        if (now >= give_up) {
            result = {flight_result::kind::error, upstream_error(r, "lease holder did not finish")};
            break;
        }
        // Poll briskly at first (a typical load is short), then back off: 10 ms .. 100 ms.
        auto waited = std::chrono::duration_cast<duration>(now - started);
        co_await sleep_for(std::clamp(waited / 10, duration(10), duration(100)));
    }
    finish(r, f, std::move(result));
}

// protect: false — plain cache-aside, for comparison: every miss loads, nothing coalesces.
asio::awaitable<void> run_unprotected(route_runtime& r, std::shared_ptr<flight> f, herd_context& hc) {
    const auto& c = r.cfg;
    std::vector<std::string_view> captures;
    r.pattern.match(f->key, &captures);
    load_result res =
        co_await hc.http.load(r.url, expand_target(r.url.target_template, f->key, captures), c.load_timeout,
                              c.max_value_bytes);
    flight_result result;
    if (res.outcome == load_result::kind::ok) {
        bump(r.counters.loads_ok);
        std::vector<std::string> set_args{"SET", f->key, res.body, "PX",
                                        std::to_string(jittered_ms(c.ttl, c.ttl_jitter) + keep_ms(c))};
        co_await call(hc.redis.pick(), std::move(set_args));
        std::string bulk;
        resp::append_bulk(bulk, res.body);
        result = {flight_result::kind::value, std::move(bulk)};
    } else if (res.outcome == load_result::kind::not_found) {
        bump(r.counters.loads_not_found);
        result = {flight_result::kind::not_found, {}};
    } else {
        bump(r.counters.loads_failed);
        result = {flight_result::kind::error, upstream_error(r, res.reason)};
    }
    finish(r, f, std::move(result));
}

// Step 3: join or start the flight for this key, with a deadline for this waiter. With
// `join_only` (step 0: nothing read yet), joins a running load of the key or does nothing at all
// and returns false; a background refresh is not joined, since Redis still has a servable value.
bool wait_for_load(route_runtime& r, const std::string& key, herd_context& hc, reply_handler& slot,
                   std::shared_ptr<const std::string> fallback, clock::time_point request_start,
                   bool join_only = false) {
    std::shared_ptr<waiter> me;
    std::shared_ptr<flight> f;
    bool start = false;
    {
        std::lock_guard lock(r.mutex);
        if (join_only) {
            auto it = r.flights.find(key);
            if (it == r.flights.end() || it->second->background) return false;
        }
        me = std::make_shared<waiter>(hc.io.get_executor(), slot);
        me->request_start = request_start;
        me->wait_start = clock::now();
        if (!r.cfg.protect) {
            f = std::make_shared<flight>();
            f->key = key;
            start = true;
        } else {
            auto [it, inserted] = r.flights.try_emplace(key);
            auto& slot_ref = it->second;
            if (!inserted) {
                if (slot_ref->live_waiters >= r.cfg.max_waiters) {
                    f = nullptr;
                } else {
                    f = slot_ref;
                    bump(r.counters.coalesced);
                }
            } else {
                r.foreground_flights.fetch_add(1, std::memory_order_relaxed);
                slot_ref = std::make_shared<flight>();
                slot_ref->key = key;
                slot_ref->fallback = fallback;
                f = slot_ref;
                start = true;
            }
        }
        if (f) {
            f->waiters.push_back(me);
            ++f->live_waiters;
            me->started_flight = start;
            // A waiter that read nothing usable still gets the starter's old value on error.
            me->fallback = fallback ? std::move(fallback) : f->fallback;
        } else {
            me->fallback = std::move(fallback);
        }
    }
    bump(r.counters.misses);
    if (!f) {  // max_waiters: shed load, stale data if we have it
        bump(r.counters.waiters_rejected);
        if (me->fallback) {
            bump(r.counters.stale_served);
            observe_request(r, get_outcome::stale, request_start);
            slot.on_reply(*me->fallback);
        } else {
            bump(r.counters.errors);
            observe_request(r, get_outcome::error, request_start);
            slot.on_reply("-BUSY herdguard: too many waiters for key\r\n");
        }
        return true;
    }
    r.waiters_now.fetch_add(1, std::memory_order_relaxed);
    std::weak_ptr<flight> weak = f;
    me->timer.expires_after(r.cfg.wait_timeout);
    me->timer.async_wait([&r, me, weak](const boost::system::error_code& ec) {
        if (ec || me->done) return;
        if (auto fl = weak.lock()) {
            std::lock_guard lock(r.mutex);
            if (!fl->finished && fl->live_waiters > 0) --fl->live_waiters;
        }
        bump(r.counters.wait_timeouts);
        const flight_result timed_out{flight_result::kind::error,
                                      upstream_error(r, fmt::format("timeout after {}ms", r.cfg.wait_timeout.count()))};
        answer(r, *me, timed_out, error_bytes(r, timed_out));
    });
    if (start) {
        if (r.cfg.protect)
            asio::co_spawn(hc.io, run_flight(r, f, hc), asio::detached);
        else
            asio::co_spawn(hc.io, run_unprotected(r, f, hc), asio::detached);
    }
    return true;
}

// Stale-while-revalidate: at most one refresh per key in this process; ACQUIRE makes it one
// across the fleet. Refreshes are the lowest priority: they give way at max_concurrent_loads.
void refresh_in_background(route_runtime& r, const std::string& key, herd_context& hc) {
    if (!r.cfg.protect) return;
    std::shared_ptr<flight> f;
    {
        std::lock_guard lock(r.mutex);
        if (r.flights.contains(key)) return;
        if (r.loads_in_flight.load(std::memory_order_relaxed) >= static_cast<std::int64_t>(r.cfg.max_concurrent_loads)) {
            bump(r.counters.loads_shed);
            return;
        }
        f = std::make_shared<flight>();
        f->key = key;
        f->background = true;
        r.flights.emplace(key, f);
    }
    bump(r.counters.background_refreshes);
    asio::co_spawn(hc.io, run_flight(r, f, hc), asio::detached);
}

// Steps 1 and 2: the read, and what it means. Receives the PTTL reply (unless the key was known
// fresh and GET went alone), then the GET reply, in order.
class read_op final : public reply_handler {
public:
    read_op(route_runtime& r, std::string key, herd_context& hc, reply_handler& slot, clock::time_point start,
            bool with_pttl)
        : r_(r), key_(std::move(key)), hc_(hc), slot_(slot), start_(start), with_pttl_(with_pttl) {}

    // One read_op per routed GET, hundreds in flight on a pipelined connection: more than
    // malloc's per-thread cache keeps, so each new/delete took malloc's slow path (callgrind:
    // ~150 instructions per hit). A per-thread free list, bounded, keeps them instead.
    static void* operator new(std::size_t size) {
        auto& pool = free_list();
        if (size == sizeof(read_op) && !pool.empty()) {
            void* p = pool.back();
            pool.pop_back();
            return p;
        }
        return ::operator new(size);
    }
    static void operator delete(void* p, std::size_t size) {
        auto& pool = free_list();
        if (size == sizeof(read_op) && pool.size() < max_pooled) {
            pool.push_back(p);
            return;
        }
        ::operator delete(p);
    }

    void on_reply(std::string_view raw) override { step(raw); }
    void on_failure(std::string_view error) override { step(error); }
    const std::string& key() const { return key_; }

private:
    void step(std::string_view raw) {
        if (!with_pttl_) {  // the memo said fresh: only a hit or a miss to tell apart
            decide_known_fresh(raw);
            delete this;
            return;
        }
        if (!have_pttl_) {  // PTTL comes first, so GET's reply (the value) need not be copied
            if (auto pttl = resp::reply_view(raw).integer()) pttl_ = *pttl;
            have_pttl_ = true;
            return;
        }
        decide(raw, pttl_);
        delete this;
    }

    void decide_known_fresh(std::string_view raw) {
        const resp::reply_view reply(raw);
        if (reply.is_error()) {
            bump(r_.counters.errors);
            observe_request(r_, get_outcome::error, start_);
            slot_.on_reply(raw);
            return;
        }
        if (reply.is_null()) {  // deleted or expired since: the miss path, as always
            hc_.memo.forget(key_);
            wait_for_load(r_, key_, hc_, slot_, nullptr, start_);
            return;
        }
        bump(r_.counters.hits);
        bump(r_.counters.memo_hits);
        observe_request(r_, get_outcome::fresh, start_);
        slot_.on_reply(raw);
    }

    // `value` is GET's reply; `pttl` the value's remaining life just before it (-2: none, or PTTL
    // failed).
    void decide(std::string_view value, std::int64_t pttl) {
        const auto& c = r_.cfg;
        const resp::reply_view reply(value);
        if (reply.is_error()) {  // WRONGTYPE, redis unavailable: Redis's answer
            bump(r_.counters.errors);
            observe_request(r_, get_outcome::error, start_);
            slot_.on_reply(value);
            return;
        }
        if (reply.is_null()) {
            wait_for_load(r_, key_, hc_, slot_, nullptr, start_);
            return;
        }
        const std::int64_t keep = keep_ms(c);
        if (pttl == -1 || pttl > keep) {  // no TTL (written by a client) or still fresh
            // Fresh for (pttl - keep) more, counted from when the request arrived (so never
            // longer than Redis would say).
            const auto until = pttl == -1 ? clock::time_point::max()
                                          : start_ + std::chrono::milliseconds(pttl - keep);
            hc_.memo.remember(&r_, key_, clock::now(), until);
            bump(r_.counters.hits);
            observe_request(r_, get_outcome::fresh, start_);
            slot_.on_reply(value);
            return;
        }
        // Past its fresh time by (keep - pttl); -2 means it had expired at PTTL (and was written
        // again just before GET).
        const std::int64_t past = pttl < 0 ? keep : keep - pttl;
        // Stale-while-revalidate is protection; plain cache-aside (protect: false) treats a value
        // past its fresh time as a miss and loads it.
        if (c.protect && c.stale_for.count() > 0 && past <= c.stale_for.count()) {
            bump(r_.counters.stale_hits);
            observe_request(r_, get_outcome::stale, start_);
            slot_.on_reply(value);
            refresh_in_background(r_, key_, hc_);
            return;
        }
        // Too old to serve as-is, but still better than an error if loading fails.
        bool usable = past <= c.stale_if_error.count();
        wait_for_load(r_, key_, hc_, slot_, usable ? std::make_shared<const std::string>(value) : nullptr, start_);
    }

    static constexpr std::size_t max_pooled = 4096;  // per thread: ~0.7 MB at most
    // Pooled blocks go back to malloc when the thread ends.
    struct pool {
        std::vector<void*> blocks;
        ~pool() {
            for (void* p : blocks) ::operator delete(p);
        }
    };
    static std::vector<void*>& free_list() {
        thread_local pool per_thread;
        return per_thread.blocks;
    }

    route_runtime& r_;
    std::string key_;
    herd_context& hc_;
    reply_handler& slot_;
    clock::time_point start_;
    bool with_pttl_;
    bool have_pttl_ = false;
    std::int64_t pttl_ = -2;
};

}  // namespace

void herd_engine::get(route_runtime& route, std::string key, herd_context& hc, redis_connection& conn,
                      reply_handler& slot) {
    bump(route.counters.requests);
    const auto start = clock::now();
    // Step 0. Cheap when no load runs on this route: one relaxed load, no lock.
    if (route.cfg.protect && route.foreground_flights.load(std::memory_order_relaxed) > 0 &&
        wait_for_load(route, key, hc, slot, nullptr, start, /*join_only=*/true))
        return;
    const bool known_fresh = hc.memo.fresh(&route, key, start);
    auto* op = new read_op(route, std::move(key), hc, slot, start, !known_fresh);
    const std::string_view k = op->key();
    // Two requests, one reply handler: the connection hands it the PTTL reply, then GET's.
    if (!known_fresh) conn.send_command({"PTTL", k}, op);
    conn.send_command({"GET", k}, op);
}

void herd_engine::revoke(std::string_view key, herd_context& hc, redis_connection& conn) {
    hc.memo.forget(key);
    std::string lk = lock_key(key), nk = negative_key(key), fk = failure_key(key);
    conn.send_command({"DEL", lk, nk, fk}, &discard_reply());
}

std::vector<flight_info> herd_engine::flights() const {
    std::vector<flight_info> out;
    auto now = clock::now();
    for (auto* r : routes()) {
        std::lock_guard lock(r->mutex);
        for (const auto& [key, f] : r->flights) {
            out.push_back({r->cfg.name, key, f->live_waiters,
                           std::chrono::duration_cast<duration>(now - f->started), f->background});
        }
    }
    return out;
}

bool herd_engine::idle() const {
    // Every runtime, not just the active ones: loads on replaced routes must finish too.
    std::lock_guard reload_lock(reload_mutex_);
    for (const auto& r : runtimes_) {
        if (r->loads_in_flight.load(std::memory_order_relaxed) > 0) return false;
        std::lock_guard lock(r->mutex);
        if (!r->flights.empty()) return false;
    }
    return true;
}

std::string herd_engine::info_section() const {
    std::string out = "# Herdguard\r\n";
    const auto& routes = this->routes();
    out += fmt::format("routes:{}\r\n", routes.size());
    for (auto* r : routes) {
        const auto& n = r->cfg.name;
#define HERDGUARD_INFO_ROUTE_COUNTER(counter, help) \
    out += fmt::format("route_{}_" #counter ":{}\r\n", n, r->counters.counter.load(std::memory_order_relaxed));
        HERDGUARD_ROUTE_COUNTERS(HERDGUARD_INFO_ROUTE_COUNTER)
#undef HERDGUARD_INFO_ROUTE_COUNTER
        for (const auto& [name, value] : route_gauges(*r)) out += fmt::format("route_{}_{}:{}\r\n", n, name, value);
    }
    return out;
}

}  // namespace herdguard
