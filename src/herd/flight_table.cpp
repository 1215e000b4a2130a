// Steps 3 and 7 of a routed GET (the life of a GET is at the top of read_step.cpp): the flight
// table. A miss joins the flight of its key in this process, or starts it; each waiter has its
// own wait_timeout; a finished flight answers every waiter at once, one post per thread.
#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <fmt/format.h>

#include "herd_internal.h"
#include "herdguard/resp/reply.h"

namespace herdguard::herd_detail {

std::string upstream_error(const route_runtime& r, std::string_view why) {
    return fmt::format("ERR herdguard: upstream '{}' unavailable ({})", r.cfg.name, why);
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

}  // namespace

// After an early refresh that got no value, that key is not refreshed early again for a while:
// about one load time (10..100 ms), by which the lease holder has usually written its value. Only
// early refreshes pause; a stale value's refresh and a miss's load do not. Under the route mutex.
static void pause_early_refresh(route_runtime& r, const std::string& key) {
    const auto now = clock::now();
    if (r.early_paused.size() >= route_runtime::kMaxEarlyPaused)
        std::erase_if(r.early_paused, [&](const auto& e) { return e.second <= now; });
    if (r.early_paused.size() >= route_runtime::kMaxEarlyPaused && !r.early_paused.contains(key)) {
        bump(r.counters.early_pause_table_full);
        return;
    }
    const auto pause = std::clamp(std::chrono::microseconds(r.load_time_us.load(std::memory_order_relaxed)),
                                  std::chrono::microseconds(10'000), std::chrono::microseconds(100'000));
    r.early_paused[key] = now + pause;
    bump(r.counters.early_refresh_pauses);
}

// Ends a flight: out of the table first (so new misses start a new one), then every waiter is
// answered on its own thread.
void finish(route_runtime& r, const std::shared_ptr<flight>& f, flight_result result) {
    std::vector<std::shared_ptr<waiter>> waiters;
    const bool early_without_value = f->early_ms >= 0 && (result.outcome == flight_result::kind::none ||
                                                          result.outcome == flight_result::kind::error);
    {
        std::lock_guard lock(r.mutex);
        auto it = r.flights.find(f->key);
        if (it != r.flights.end() && it->second == f) {
            r.flights.erase(it);
            if (!f->background) r.foreground_flights.fetch_sub(1, std::memory_order_relaxed);
        }
        if (early_without_value) pause_early_refresh(r, f->key);
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

namespace {

// Under the route mutex: the flight `me` joins (nullptr at max_waiters), and whether `me` started
// it. A protect: false route starts a flight of its own per miss (plain cache-aside).
std::shared_ptr<flight> join_or_start(route_runtime& r, const std::string& key, waiter& me,
                                      std::shared_ptr<const std::string> fallback, bool& start) {
    std::shared_ptr<flight> f;
    start = false;
    if (!r.cfg.protect) {
        f = std::make_shared<flight>();
        f->key = key;
        start = true;
    } else {
        auto [it, inserted] = r.flights.try_emplace(key);
        auto& slot_ref = it->second;
        if (!inserted) {
            if (slot_ref->live_waiters < r.cfg.max_waiters) {
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
        f->waiters.push_back(me.shared_from_this());
        ++f->live_waiters;
        me.started_flight = start;
        // A waiter that read nothing usable still gets the starter's old value on error.
        me.fallback = fallback ? std::move(fallback) : f->fallback;
    } else {
        me.fallback = std::move(fallback);
    }
    return f;
}

// max_waiters reached: shed this request, with stale data if it has some.
void shed(route_runtime& r, const waiter& me, reply_handler& slot) {
    bump(r.counters.waiters_rejected);
    if (me.fallback) {
        bump(r.counters.stale_served);
        observe_request(r, get_outcome::stale, me.request_start);
        slot.on_reply(*me.fallback);
    } else {
        bump(r.counters.errors);
        observe_request(r, get_outcome::error, me.request_start);
        slot.on_reply("-BUSY herdguard: too many waiters for key\r\n");
    }
}

// The waiter's own deadline: at wait_timeout it gets the error (or its stale data) and leaves the
// flight, which goes on for the others.
void arm_wait_timeout(route_runtime& r, const std::shared_ptr<waiter>& me, std::weak_ptr<flight> weak) {
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
}

}  // namespace

// Step 3: join or start the flight for this key, with a deadline for this waiter. With
// `join_only` (step 0: nothing read yet), joins a running load of the key or does nothing at all
// and returns false; a background refresh is not joined, since Redis still has a servable value.
bool wait_for_load(route_runtime& r, const std::string& key, herd_context& hc, reply_handler& slot,
                   std::shared_ptr<const std::string> fallback, clock::time_point request_start,
                   bool join_only) {
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
        f = join_or_start(r, key, *me, std::move(fallback), start);
    }
    bump(r.counters.misses);
    if (!f) {
        shed(r, *me, slot);
        return true;
    }
    r.waiters_now.fetch_add(1, std::memory_order_relaxed);
    arm_wait_timeout(r, me, f);
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
void refresh_in_background(route_runtime& r, const std::string& key, herd_context& hc, std::int64_t early_ms) {
    if (!r.cfg.protect) return;
    std::shared_ptr<flight> f;
    {
        std::lock_guard lock(r.mutex);
        if (r.flights.contains(key)) return;
        if (early_ms >= 0 && !r.early_paused.empty()) {
            if (auto it = r.early_paused.find(key); it != r.early_paused.end()) {
                if (clock::now() < it->second) return;
                r.early_paused.erase(it);
            }
        }
        if (r.loads_in_flight.load(std::memory_order_relaxed) >= static_cast<std::int64_t>(r.cfg.max_concurrent_loads)) {
            bump(r.counters.loads_shed);
            return;
        }
        f = std::make_shared<flight>();
        f->key = key;
        f->background = true;
        f->early_ms = early_ms;
        r.flights.emplace(key, f);
    }
    bump(early_ms >= 0 ? r.counters.early_refreshes : r.counters.background_refreshes);
    asio::co_spawn(hc.io, run_flight(r, f, hc), asio::detached);
}

}  // namespace herdguard::herd_detail
