// The life of a routed GET
// ------------------------
//  L1           with l1 on the route and CLIENT TRACKING up: a value held in process memory is
//               answered at once (l1_cache.h); a miss that is admitted (admit: all, or a hot
//               key) reserves the key's L1 slot before 1, and 2 stores a fresh value under it.
//  0. join      a load of this key already running in this process? join it (step 3) without
//               reading Redis: during a herd, Redis sees one read, not one per client.
//  1. read      PTTL key + GET key, pipelined on the client's shared connection (one round trip);
//               GET alone while the worker's fresh memo knows the key fresh (fresh_memo.h).
//  2. fresh  -> answer the value (and with early_refresh, maybe start one refresh early: XFetch).
//               stale (within stale_for) -> answer it, and start one background refresh.
//               miss (or only usable on error) -> 3.
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
//
// Steps 0-2 are here; 3 and 7 in flight_table.cpp, 4-6 in lease_load.cpp (herd_internal.h).
#include <array>
#include <cmath>
#include <cstring>

#include "herd_internal.h"
#include "herdguard/resp/reply_view.h"

namespace herdguard {

namespace {

using namespace herd_detail;

// Steps 1 and 2: the read, and what it means. Receives the PTTL reply (unless the key was known
// fresh and GET went alone), then the GET reply, in order.
class read_op final : public reply_handler {
public:
    read_op(route_runtime& r, std::string_view key, std::uint64_t key_hash, herd_context& hc, reply_handler& slot,
            clock::time_point start, std::uint64_t l1_token)
        : r_(r), key_hash_(key_hash), hc_(hc), slot_(slot), start_(start), l1_token_(l1_token) {
        // The key is kept inline when it fits (most keys do): a hit then costs the heap nothing.
        if (key.size() <= sizeof(inline_key_)) {
            std::memcpy(inline_key_, key.data(), key.size());
            key_ = std::string_view(inline_key_, key.size());
        } else {
            long_key_.assign(key);
            key_ = long_key_;
        }
    }

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
    std::string_view key() const { return key_; }
    // Before any reply: whether PTTL's reply comes first (else the memo said fresh: GET alone).
    void expect_pttl(bool yes) { with_pttl_ = yes; }

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
        if (l1_token_ != 0 && !l1_filled_) r_.l1->cancel(key_, l1_token_);  // a miss, stale, an error
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
            hc_.memo.forget(&r_, key_hash_, batch_now());
            wait_for_load(r_, std::string(key_), hc_, slot_, nullptr, start_);
            return;
        }
        bump(r_.counters.hits);
        bump(r_.counters.memo_hits);
        observe_hit(r_, start_);
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
            wait_for_load(r_, std::string(key_), hc_, slot_, nullptr, start_);
            return;
        }
        const std::int64_t keep = keep_ms(c);
        if (pttl == -1 || pttl > keep) {  // no TTL (written by a client) or still fresh
            // Fresh for (pttl - keep) more, counted from when the request arrived (so never
            // longer than Redis would say). With early refresh, the memo stops short of the time
            // in which a read may refresh early, so those reads see PTTL and can.
            const std::int64_t left = pttl - keep;
            const auto until = pttl == -1 ? clock::time_point::max()
                                          : start_ + std::chrono::milliseconds(left - early_window_ms(r_));
            hc_.memo.remember(&r_, key_hash_, start_, until);
            if (l1_token_ != 0) fill_l1(value, until);
            bump(r_.counters.hits);
            observe_hit(r_, start_);
            slot_.on_reply(value);
            if (pttl != -1 && refresh_early(r_, left, hc_.random()))
                refresh_in_background(r_, std::string(key_), hc_, left);
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
            refresh_in_background(r_, std::string(key_), hc_);
            return;
        }
        // Too old to serve as-is, but still better than an error if loading fails.
        bool usable = past <= c.stale_if_error.count();
        wait_for_load(r_, std::string(key_), hc_, slot_, usable ? std::make_shared<const std::string>(value) : nullptr,
                      start_);
    }

    // An entry lives no longer than max_age, nor than the memo would trust the value (which
    // stops before the early-refresh window, so those reads still reach Redis and can refresh).
    void fill_l1(std::string_view value, clock::time_point fresh_until) {
        const auto expires = std::min(fresh_until, start_ + r_.cfg.l1_max_age);
        if (expires <= clock::now()) return;  // cancelled by step()
        l1_filled_ = true;
        switch (r_.l1->fill(key_, l1_token_, value, expires)) {
            case l1_cache::fill_result::stored: bump(r_.counters.l1_fills); break;
            case l1_cache::fill_result::voided: bump(r_.counters.l1_fills_voided); break;
            case l1_cache::fill_result::too_big: break;
        }
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
    std::string_view key_;      // into inline_key_ or long_key_
    char inline_key_[48];
    std::string long_key_;
    std::uint64_t key_hash_;    // fresh_memo::hash_of(key_)
    herd_context& hc_;
    reply_handler& slot_;
    clock::time_point start_;
    bool with_pttl_ = true;
    std::uint64_t l1_token_;  // this read's L1 reservation, 0 for none
    bool l1_filled_ = false;  // the reservation was used (stored, or found voided)
    bool have_pttl_ = false;
    std::int64_t pttl_ = -2;
};

}  // namespace

// XFetch (Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention",
// VLDB 2015, Algorithm 1): refresh now when delta * beta * -ln(U) >= the fresh life left, U
// uniform on (0, 1]. The chance grows as expiry nears, so of many readers about one refreshes,
// about delta * beta before expiry; a key nobody reads is left to expire.
bool refresh_early(const route_runtime& r, std::int64_t left_ms, std::uint64_t draw) {
    const double beta = r.cfg.early_refresh_beta;
    if (beta <= 0) return false;
    const auto delta_us = r.load_time_us.load(std::memory_order_relaxed);
    if (delta_us <= 0) return false;  // no load measured yet
    const double u = 1.0 - uniform01_from(draw);  // (0, 1]
    return static_cast<double>(delta_us) / 1000.0 * beta * -std::log(u) >= static_cast<double>(left_ms);
}

// How long before expiry reads must see PTTL for XFetch: 10 * delta * beta, beyond which the
// chance of refreshing is below e^-10 (5e-5) per read. 0 without early refresh.
std::int64_t early_window_ms(const route_runtime& r) {
    const double beta = r.cfg.early_refresh_beta;
    if (beta <= 0) return 0;
    return static_cast<std::int64_t>(10.0 * beta * static_cast<double>(r.load_time_us.load(std::memory_order_relaxed)) / 1000.0);
}

void herd_engine::get(route_runtime& route, std::string_view key, herd_context& hc, backend& conn,
                      reply_handler& slot, std::string_view raw_get) {
    bump(route.counters.requests);
    const auto start = batch_now();
    const bool l1_on = route.l1 && l1_active();
    if (l1_on) {
        if (auto held = route.l1->find(key, start)) {
            bump(route.counters.hits);
            bump(route.counters.l1_hits);
            observe_hit(route, start);
            slot.on_reply(*held);
            return;
        }
    }
    // The memo's line is fetched now: the lookup below is the one cache miss a hit adds (perf,
    // issue 28), and the work in between overlaps it.
    const std::uint64_t key_hash = fresh_memo::hash_of(key);
    hc.memo.prefetch(&route, key_hash);
    // Step 0. Cheap when no load runs on this route: one relaxed load, no lock.
    if (route.cfg.protect && route.foreground_flights.load(std::memory_order_relaxed) > 0 &&
        wait_for_load(route, std::string(key), hc, slot, nullptr, start, /*join_only=*/true))
        return;
    // The L1 reservation comes before the read is sent (l1_cache.h: the fill/invalidate race).
    std::uint64_t l1_token = 0;
    if (l1_on && (!route.cfg.l1_admit_hot || hot_rate(key) >= route.cfg.l1_hot_reads_per_second))
        l1_token = route.l1->reserve(key);
    auto* op = new read_op(route, key, key_hash, hc, slot, start, l1_token);
    const std::string_view k = op->key();
    // A read that fills L1 needs the value's remaining life: PTTL, whatever the memo says.
    const bool known_fresh = l1_token == 0 && hc.memo.fresh(&route, key_hash, start);
    op->expect_pttl(!known_fresh);
    // Two requests, one reply handler: the connection hands it the PTTL reply, then GET's.
    if (!known_fresh) conn.request(k, {"PTTL", k}, op);
    // GET goes as the client sent it, when it did: the bytes are copied, not encoded again.
    const std::string_view get_argv[] = {"GET", k};
    if (!raw_get.empty()) conn.pass(passthrough{get_argv, raw_get, false}, op);
    else conn.request(k, get_argv, op);
}

void herd_engine::forget_fresh(route_runtime& route, std::string_view key, herd_context& hc) {
    hc.memo.forget(&route, key, batch_now());
}

void herd_engine::revoke(route_runtime& route, std::string_view key, herd_context& hc, backend& conn) {
    forget_fresh(route, key, hc);
    // The three names are built in one buffer per thread, with plain appends: no allocation once
    // it has grown (three fmt::format strings cost ~1,700 instructions a write: callgrind,
    // docs/BENCHMARKS.md issue 28).
    static constexpr std::string_view kinds[] = {"lock", "neg", "fail"};
    thread_local std::string names;
    names.clear();
    std::array<std::size_t, 4> at{};
    for (std::size_t i = 0; i < 3; ++i) {
        at[i] = names.size();
        append_derived_key(names, kinds[i], key);
    }
    at[3] = names.size();
    const std::string_view all(names);
    conn.request(key,
                 {"DEL", all.substr(at[0], at[1] - at[0]), all.substr(at[1], at[2] - at[1]),
                  all.substr(at[2], at[3] - at[2])},
                 &discard_reply());
}

}  // namespace herdguard
