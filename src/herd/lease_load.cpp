// Steps 4 to 6 of a routed GET (the life of a GET is at the top of read_step.cpp): the lease in
// Redis, the load from the upstream behind max_concurrent_loads and the breaker, and the
// write-back under the lease, with TTL jitter.
#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "herd_internal.h"
#include "lease_scripts.h"
#include "herdguard/loader/http_loader.h"
#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_value.h"
#include "herdguard/util/random.h"

namespace herdguard::herd_detail {

namespace {

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

// `key`: the routed key the command is about (its lock, marker and value keys live beside it).
asio::awaitable<resp::reply_value> call(backend& conn, std::string key, std::vector<std::string> argv) {
    return asio::async_initiate<decltype(asio::use_awaitable), void(resp::reply_value)>(
        [&conn](auto handler, std::string k, std::vector<std::string> args) {
            std::vector<std::string_view> views(args.begin(), args.end());
            auto* op = new call_op<decltype(handler)>(std::move(handler));
            conn.request(k, views, op);
        },
        asio::use_awaitable, std::move(key), std::move(argv));
}

std::string random_token(const herd_context& hc) {
    const std::uint64_t a = hc.random();
    const std::uint64_t b = hc.random();
    return fmt::format("{:016x}{:016x}", a, b);
}

// ttl * (1 ± jitter), at least 1 ms.
std::int64_t jittered_ms(const herd_context& hc, duration ttl, double jitter) {
    double f = 1.0 + jitter * (2.0 * uniform01_from(hc.random()) - 1.0);
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(static_cast<double>(ttl.count()) * f));
}

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

bool has_live_waiters(route_runtime& r, const flight& f) {
    std::lock_guard lock(r.mutex);
    return f.live_waiters > 0;
}

// ACQUIRE answers 'hit' (nothing to load) for a value with more than this left in Redis: past
// its fresh time for a miss or a stale refresh; for an early refresh, more fresh life than the
// reader saw, i.e. someone refreshed it meanwhile.
std::int64_t hit_above_ms(const route_config& c, const flight& f) {
    return keep_ms(c) + std::max<std::int64_t>(f.early_ms, 0);
}

// XFetch's delta: an exponential moving average of the route's load time (weight 1/8).
void note_load_time(route_runtime& r, herd_clock::duration took) {
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(took).count();
    const auto old = r.load_time_us.load(std::memory_order_relaxed);
    r.load_time_us.store(old == 0 ? us : old + (us - old) / 8, std::memory_order_relaxed);
}

asio::awaitable<void> sleep_for(duration d) {
    herd_timer t(co_await asio::this_coro::executor, d);
    co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
}

// Releases our lease without a value, remembering the failure fleet-wide for `remember`.
asio::awaitable<void> release_lease(backend& conn, std::string key, std::string token, std::string reason,
                                    duration remember) {
    std::vector<std::string> release_args{"EVAL", std::string(write_failure_script), "2", lock_key(key), failure_key(key),
                         std::move(token), std::move(reason), std::to_string(remember.count())};
    co_await call(conn, std::move(key), std::move(release_args));
}

// The breaker's transitions a load caused: opened by a failure, closed by a healthy probe.
void log_breaker_change(const route_runtime& r, bool probe, std::uint64_t trips_before, const load_result& res) {
    if (r.breaker.trips() != trips_before)
        spdlog::warn("route '{}': circuit opened after load failure ({})", r.cfg.name, res.reason);
    else if (probe && r.breaker.current() == circuit_breaker::state::closed)
        spdlog::info("route '{}': circuit closed, upstream recovered", r.cfg.name);
}

// What a write-back script answered: 1 written, 0 the lease was gone (revoked or expired), -1 a
// client wrote the key during the load (lease_scripts.h).
void note_write_back(route_runtime& r, const resp::reply_value& w) {
    if (w.type != resp::reply_type::integer) return;
    if (w.integer == 0) bump(r.counters.lock_lost_at_write);
    else if (w.integer < 0) bump(r.counters.write_back_skipped);
}

// Steps 5 and 6: load behind the concurrency bound and the breaker, then write back under the
// lease. Called only while holding the lease (`token`).
// `state`: the value key's state when the lease was won, which the write-back must still find
// (lease_scripts.h).
asio::awaitable<flight_result> load_and_write(route_runtime& r, const std::string& key, const std::string& token,
                                              const std::string& state, herd_context& hc) {
    const auto& c = r.cfg;
    backend& conn = hc.redis;

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
    load_result res = co_await hc.http.load(r.url, std::move(target), c.load_timeout, c.max_value_bytes);
    observe(r.latency.load, load_start);
    if (res.outcome != load_result::kind::failed) note_load_time(r, clock::now() - load_start);
    r.loads_in_flight.fetch_sub(1, std::memory_order_relaxed);
    r.breaker.record(*permit, res.outcome != load_result::kind::failed);  // a 404 is a healthy answer
    log_breaker_change(r, permit->probe, trips_before, res);

    switch (res.outcome) {
        case load_result::kind::ok: {
            bump(r.counters.loads_ok);
            std::int64_t px = jittered_ms(hc, c.ttl, c.ttl_jitter) + keep_ms(c);
            std::vector<std::string> write_args{"EVAL",           write_value_script, "3", key, lock_key(key),
                                                negative_key(key), token,              res.body, std::to_string(px),
                                                state};
            auto w = co_await call(conn, key, std::move(write_args));
            note_write_back(r, w);
            std::string bulk;
            resp::append_bulk(bulk, res.body);
            co_return flight_result{flight_result::kind::value, std::move(bulk)};
        }
        case load_result::kind::not_found: {
            bump(r.counters.loads_not_found);
            std::int64_t px = c.negative_ttl.count() > 0 ? jittered_ms(hc, c.negative_ttl, c.ttl_jitter) : 0;
            std::vector<std::string> negative_args{"EVAL", write_negative_script, "3", key, lock_key(key),
                                                   negative_key(key), token, std::to_string(px), state};
            auto w = co_await call(conn, key, std::move(negative_args));
            note_write_back(r, w);
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

// What ACQUIRE answered: an outcome that ends the flight (a value, a remembered 404 or failure,
// an error; put in `result`), the lease won (with the value key's state then, in `state`), or the
// lease held by another load.
enum class lease_state { settled, won, held };
lease_state read_acquire(route_runtime& r, const resp::reply_value& v, flight_result& result, std::string& state) {
    if (v.is_error() || v.type != resp::reply_type::array || v.elements.empty()) {
        result = {flight_result::kind::error, v.is_error() ? v.str : std::string("ERR herdguard: unexpected reply from redis")};
        return lease_state::settled;
    }
    const std::string& tag = v.elements[0].str;
    if (tag == "hit" && v.elements.size() == 2) {
        std::string bulk;
        resp::append_bulk(bulk, v.elements[1].str);
        result = {flight_result::kind::value, std::move(bulk)};
        return lease_state::settled;
    }
    if (tag == "neg") {
        bump(r.counters.negative_hits);
        result = {flight_result::kind::not_found, {}};
        return lease_state::settled;
    }
    if (tag == "failed") {
        bump(r.counters.failure_remembered);
        result = {flight_result::kind::error,
                  upstream_error(r, v.elements.size() == 2 ? v.elements[1].str : std::string("failed"))};
        return lease_state::settled;
    }
    if (tag != "won") return lease_state::held;  // "lost": held here or elsewhere
    state = v.elements.size() == 2 ? v.elements[1].str : std::string();
    return lease_state::won;
}

}  // namespace

// Step 4: the flight. Runs on the worker that started it; independent of any client, so a
// waiter that disconnects never cancels the load for the others.
asio::awaitable<void> run_flight(route_runtime& r, std::shared_ptr<flight> f, herd_context& hc) {
    const auto& c = r.cfg;
    backend& conn = hc.redis;
    const std::string token = random_token(hc);
    const auto started = clock::now();
    // Waiting on another holder is bounded: its lease expires within lock_ttl, after which one
    // flight takes it over; waiters have their own (shorter) timers on top.
    const auto give_up = started + c.lock_ttl + c.wait_timeout;
    bool contended = false;
    flight_result result;

    while (true) {
        std::vector<std::string> acquire_args{"EVAL", acquire_script, "4", f->key, lock_key(f->key),
                                      negative_key(f->key), failure_key(f->key), token,
                                      std::to_string(c.lock_ttl.count()), std::to_string(hit_above_ms(c, *f)),
                                      contended ? "1" : "0"};
        auto v = co_await call(conn, f->key, std::move(acquire_args));
        std::string state;
        const lease_state lease = read_acquire(r, v, result, state);
        if (lease == lease_state::settled) break;
        if (lease == lease_state::won) {
            bump(contended ? r.counters.lock_taken_over : r.counters.lock_acquired);
            if (std::uint64_t suppressed = 0; contended && r.takeover_log.allow(suppressed))
                spdlog::info("route '{}': took over the lease of '{}' ({} similar lines suppressed)", c.name, f->key,
                             suppressed);
            result = co_await load_and_write(r, f->key, token, state, hc);
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
                                        std::to_string(jittered_ms(hc, c.ttl, c.ttl_jitter) + keep_ms(c))};
        co_await call(hc.redis, f->key, std::move(set_args));
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

}  // namespace herdguard::herd_detail
