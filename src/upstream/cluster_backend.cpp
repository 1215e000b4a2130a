#include "herdguard/upstream/cluster_backend.h"

#include <algorithm>
#include <chrono>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include "herdguard/resp/command_keys.h"
#include "herdguard/resp/key_slot.h"
#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_view.h"
#include "herdguard/upstream/cluster_merge.h"
#include "herdguard/upstream/cluster_plan.h"
#include "herdguard/upstream/cluster_redirect.h"
#include "herdguard/upstream/cluster_watch.h"
#include "herdguard/upstream/redis_connection.h"

namespace herdguard {

namespace {

using clock = std::chrono::steady_clock;

std::string encode(std::span<const std::string_view> argv) {
    std::string out;
    resp::append_command(out, argv);
    return out;
}

// The command's bytes, kept by its call for a resend: as the client sent them, or encoded.
std::string bytes_of(const passthrough& cmd) { return cmd.raw.empty() ? encode(cmd.argv) : std::string(cmd.raw); }

// One command on its way to the cluster: it reads the reply before the caller and follows the
// cluster's redirects (cluster_backend.h). Deletes itself once the caller has its reply.
class cluster_call final : public reply_handler {
public:
    // `slot`: the slot the command is about; `fixed`: a node's address for keyless commands
    // (fan-out, any master), which are never redirected.
    cluster_call(cluster_backend& b, std::string bytes, std::uint16_t slot, std::string fixed, reply_handler* inner,
                 bool no_timeout)
        : b_(b), bytes_(std::move(bytes)), slot_(slot), fixed_(std::move(fixed)), inner_(inner),
          no_timeout_(no_timeout), budget_(b.cfg().redis.command_timeout) {}

    void send() {
        redis_connection* conn = fixed_.empty() ? b_.slot_connection(slot_) : &b_.node(fixed_);
        if (conn == nullptr) {
            b_.watch().refresh_soon("no master for a slot");
            return fail(b_.no_map_error());
        }
        answered_.clear();  // the slot's node: after_error looks it up only if a redirect comes back
        conn->send(bytes_, this, no_timeout_);
    }

    void on_reply(std::string_view raw) override {
        if (raw.empty() || raw[0] != '-' || !fixed_.empty()) return done(raw, false);
        auto step = b_.after_error(raw, slot_, answered_, budget_);
        using kind = cluster_backend::next_step::kind;
        switch (step.what) {
            case kind::deliver: return done(raw, false);
            case kind::give_up: return fail(std::move(step.reply));
            case kind::resend: return send();
            case kind::ask: {
                // ASKING and the command, back to back on the same connection: ASKING holds for
                // the next command only. The map stays: the slot is still the old owner's.
                auto& there = b_.node(step.address);
                answered_ = step.address;
                there.send_command({"ASKING"}, &discard_reply());
                there.send(bytes_, this, no_timeout_);
                return;
            }
            case kind::retry:
                if (!timer_) timer_ = std::make_unique<asio::steady_timer>(b_.executor());
                timer_->expires_after(step.pause);
                timer_->async_wait([this](const boost::system::error_code& ec) {
                    if (ec) return done("-ERR herdguard: shutting down\r\n", true);
                    send();
                });
                return;
        }
    }

    void on_failure(std::string_view raw) override {
        // Refused, lost or timed out: the map may be out of date (a failover). The command may
        // have run, so it is not sent again.
        b_.watch().refresh_soon("connection failure");
        done(raw, true);
    }

private:
    void fail(std::string reply) { done(reply, true); }

    void done(std::string_view raw, bool failure) {
        reply_handler* inner = inner_;
        if (inner != nullptr) hand_on(inner, raw, failure);
        delete this;
    }

    cluster_backend& b_;
    std::string bytes_;
    std::uint16_t slot_;
    std::string fixed_;
    reply_handler* inner_;
    bool no_timeout_;
    redirect_budget budget_;
    std::string answered_;  // the ASK target it went to last; empty: the slot's node
    std::unique_ptr<asio::steady_timer> timer_;
};

// The replies of several commands, merged into one for the caller once the last is in. Alive
// while dispatching (one count more), so parts answered at once do not finish it early.
class gather final {
public:
    gather(reply_handler* inner, cluster_merge how, std::size_t parts, std::vector<cluster_part> split = {},
           std::size_t total_keys = 0)
        : inner_(inner), how_(how), replies_(parts), split_(std::move(split)), total_keys_(total_keys),
          pending_(parts + 1) {
        handlers_.reserve(parts);
        for (std::size_t i = 0; i < parts; ++i) handlers_.emplace_back(this, i);
        for (auto& p : split_) p.argv.clear();  // views into the caller's request: gone after dispatch
    }
    reply_handler* part(std::size_t i) { return &handlers_[i]; }
    void dispatched() { done_one(); }

private:
    struct part_handler final : reply_handler {
        part_handler(gather* g, std::size_t i) : g(g), i(i) {}
        gather* g;
        std::size_t i;
        void on_reply(std::string_view raw) override { g->store(i, raw); }
        void on_failure(std::string_view raw) override { g->store(i, raw); }
    };
    void store(std::size_t i, std::string_view raw) {
        replies_[i] = std::string(raw);
        done_one();
    }
    void done_one() {
        if (--pending_ > 0) return;
        const std::string merged = merge_cluster_replies(how_, replies_, split_, total_keys_);
        if (inner_ != nullptr) inner_->on_reply(merged);
        delete this;
    }

    reply_handler* inner_;
    cluster_merge how_;
    std::vector<std::string> replies_;
    std::vector<cluster_part> split_;
    std::size_t total_keys_;
    std::size_t pending_;
    std::vector<part_handler> handlers_;
};

// A reply rewritten on its way to the caller (SCAN's cursor, INFO's cluster_enabled).
class rewrite final : public reply_handler {
public:
    using fn = std::string (*)(std::string_view raw, std::size_t index, std::size_t count);
    rewrite(reply_handler* inner, fn f, std::size_t index = 0, std::size_t count = 0)
        : inner_(inner), f_(f), index_(index), count_(count) {}
    void on_reply(std::string_view raw) override {
        const std::string out = f_(raw, index_, count_);
        auto* inner = inner_;
        delete this;
        if (inner != nullptr) inner->on_reply(out);
    }
    void on_failure(std::string_view raw) override {
        auto* inner = inner_;
        delete this;
        if (inner != nullptr) inner->on_failure(raw);
    }

private:
    reply_handler* inner_;
    fn f_;
    std::size_t index_;
    std::size_t count_;
};

std::string rewrite_info(std::string_view raw, std::size_t, std::size_t) {
    const std::string one(raw);
    return merge_cluster_replies(cluster_merge::info, std::span<const std::string>(&one, 1));
}

std::string rewrite_scan(std::string_view raw, std::size_t index, std::size_t count) {
    if (auto out = rewrite_scan_reply(raw, index, count)) return *out;
    return resp::error_reply("ERR herdguard: SCAN cursor out of range for this cluster");
}

}  // namespace

cluster_backend::cluster_backend(asio::any_io_executor ex, const config& cfg, std::shared_ptr<cluster_watch> watch,
                                 worker_stats& stats, shared_connection_registry* registry, asio::ssl::context* tls,
                                 bool resp3)
    : ex_(ex), cfg_(cfg), watch_(std::move(watch)), stats_(stats), registry_(registry), tls_(tls), resp3_(resp3),
      slot_conn_(resp::slot_count, nullptr) {}

// The connections are not stopped here: stopping fails what they hold, which would run handlers
// (sessions, links) in the middle of the worker's teardown. The io_context's destruction drops
// them, as it does one Redis's shared connections.
cluster_backend::~cluster_backend() = default;

cluster_backend::link_counts cluster_backend::links() const {
    std::lock_guard lock(nodes_mutex_);
    link_counts n;
    for (const auto& [addr, c] : nodes_) {
        ++n.total;
        if (c->is_up()) ++n.up;
    }
    return n;
}

cluster_backend::next_step cluster_backend::after_error(std::string_view raw, std::uint16_t slot,
                                                        const std::string& answered, redirect_budget& budget) {
    next_step step;
    const auto r = read_cluster_redirect(raw);
    const auto code = resp::reply_view(raw).error_code();
    if (r.what == cluster_redirect::kind::moved || r.what == cluster_redirect::kind::ask) {
        const bool moved = r.what == cluster_redirect::kind::moved;
        (moved ? stats_.cluster_moved : stats_.cluster_ask).add();
        if (++budget.redirects > cfg_.redis.cluster.max_redirects) {
            stats_.cluster_redirect_limit.add();
            step.what = next_step::kind::give_up;
            step.reply = resp::error_reply(fmt::format("ERR herdguard: more than {} cluster redirects for slot {} (last: {})",
                                                       cfg_.redis.cluster.max_redirects, slot,
                                                       resp::reply_view(raw).error_text()));
            return step;
        }
        // A redirect without a host (an unknown endpoint) means the answering node's host.
        step.address = r.address(answered.empty() ? slot_address(slot) : answered);
        if (moved) {
            note_moved(r.slot, step.address);
            watch_->refresh_soon("MOVED");
            step.what = next_step::kind::resend;
        } else {
            step.what = next_step::kind::ask;  // the map stays: the slot is still the old owner's
        }
        return step;
    }
    // TRYAGAIN (a multi-key command during a migration), CLUSTERDOWN (a failover in progress),
    // LOADING, READONLY (a demoted master): the same command again after a pause, while
    // command_timeout allows; then Redis's own error is the answer.
    if (r.what != cluster_redirect::kind::retry && code != "READONLY") return step;
    stats_.cluster_retries.add();
    if (code == "CLUSTERDOWN" || code == "READONLY") watch_->refresh_soon(code);
    if (clock::now() + budget.pause >= budget.deadline) return step;
    step.what = next_step::kind::retry;
    step.pause = budget.pause;
    budget.pause = std::min(budget.pause * 2, redirect_budget::max_pause);
    // A fresh attempt: during a migration a multi-key command meets ASK then TRYAGAIN on every
    // attempt until the last key has moved; the deadline bounds those, not the count.
    budget.redirects = 0;
    return step;
}

std::string cluster_backend::no_map_error() const {
    const std::string why = watch_->last_error();
    if (!watch_->has_map())
        return resp::error_reply("CLUSTERDOWN herdguard: the cluster's slot map is not known yet" +
                                 (why.empty() ? std::string() : " (" + why + ")"));
    return resp::error_reply("CLUSTERDOWN Hash slot not served");
}

// One relaxed load per command; a new map (rare) empties what was learned from the old one.
void cluster_backend::sync_map() {
    const auto v = watch_->version();
    if (v == version_) return;
    version_ = v;
    map_ = watch_->current();
    std::fill(slot_conn_.begin(), slot_conn_.end(), nullptr);
    moved_.clear();
    masters_.clear();
    // The masters that own slots: a failed master left in the map without slots holds no keys,
    // and keyless fan-out must not wait for it.
    const cluster_node* previous = nullptr;
    for (std::uint32_t s = 0; map_ && s < resp::slot_count; ++s) {
        const auto* m = map_->owner(static_cast<std::uint16_t>(s));
        if (m != nullptr && m != previous) masters_.push_back(m->address());  // slots come in runs
        previous = m;
    }
    std::sort(masters_.begin(), masters_.end());
    masters_.erase(std::unique(masters_.begin(), masters_.end()), masters_.end());
}

// A started connection to "host:port" (an address as the map and the redirects write it).
std::shared_ptr<redis_connection> cluster_backend::connect(const std::string& address, bool shared) {
    const auto colon = address.rfind(':');
    const auto port = static_cast<std::uint16_t>(std::stoul(address.substr(colon + 1)));
    auto c = std::make_shared<redis_connection>(ex_, cluster_watch::node_config(cfg_.redis, address.substr(0, colon), port),
                                                shared ? redis_connection::mode::shared : redis_connection::mode::private_,
                                                stats_, registry_, tls_, resp3_);
    c->start();
    return c;
}

redis_connection& cluster_backend::node(const std::string& address) {
    if (auto it = nodes_.find(address); it != nodes_.end()) return *it->second;
    auto c = connect(address, /*shared=*/true);
    std::lock_guard lock(nodes_mutex_);
    return *nodes_.emplace(address, std::move(c)).first->second;
}

std::string cluster_backend::slot_address(std::uint16_t slot) {
    sync_map();
    if (auto it = moved_.find(slot); it != moved_.end()) return it->second;
    const cluster_node* owner = map_ ? map_->owner(slot) : nullptr;
    return owner ? owner->address() : std::string();
}

redis_connection* cluster_backend::slot_connection(std::uint16_t slot) {
    sync_map();
    redis_connection*& c = slot_conn_[slot];
    if (c == nullptr) {
        const std::string addr = slot_address(slot);
        if (!addr.empty()) c = &node(addr);
    }
    return c;
}

void cluster_backend::note_moved(std::uint16_t slot, const std::string& address) {
    sync_map();
    moved_[slot] = address;
    slot_conn_[slot] = &node(address);
}

const std::vector<std::string>& cluster_backend::masters() {
    sync_map();
    return masters_;
}

std::string cluster_backend::any_master() {
    sync_map();
    if (masters_.empty()) return {};
    return masters_[next_master_++ % masters_.size()];
}

std::shared_ptr<redis_connection> cluster_backend::take_private(const std::string& address) {
    auto& idle = pool_[address];
    while (!idle.empty()) {
        auto c = std::move(idle.back());
        idle.pop_back();
        const auto st = c->current_state();
        if (st == redis_connection::state::ready || st == redis_connection::state::connecting) {
            stats_.cluster_private_reused.add();
            return c;
        }
    }
    return connect(address, /*shared=*/false);
}

void cluster_backend::give_back(const std::string& address, std::shared_ptr<redis_connection> conn) {
    auto& idle = pool_[address];
    if (idle.size() >= pool_per_node || conn->current_state() != redis_connection::state::ready) {
        conn->stop();
        return;
    }
    conn->set_push_sink(nullptr);
    conn->set_on_closed(nullptr);
    idle.push_back(std::move(conn));
}

void cluster_backend::answer_now(reply_handler* handler, std::string reply) {
    if (handler == nullptr) return;
    asio::post(ex_, [handler, reply = std::move(reply)] { handler->on_reply(reply); });
}

void cluster_backend::send_slot(std::uint16_t slot, std::string bytes, reply_handler* handler, bool no_timeout) {
    (new cluster_call(*this, std::move(bytes), slot, {}, handler, no_timeout))->send();
}

void cluster_backend::send_node(const std::string& address, std::string bytes, reply_handler* handler,
                                bool no_timeout) {
    if (address.empty()) {
        watch_->refresh_soon("no master known");
        if (handler != nullptr) handler->on_failure(no_map_error());
        return;
    }
    (new cluster_call(*this, std::move(bytes), 0, address, handler, no_timeout))->send();
}

// The herd engine's commands: `key` decides the slot (its derived keys share it, read_through.h).
void cluster_backend::request(std::string_view key, std::span<const std::string_view> argv, reply_handler* handler) {
    if (key.empty()) return send_node(any_master(), encode(argv), handler, false);
    send_slot(resp::key_slot(key), encode(argv), handler, false);
}

// To the owner of the first key's slot; a keyless command to a master in turn.
void cluster_backend::send_by_first_key(const passthrough& cmd, reply_handler* handler) {
    const std::string_view key = resp::first_key(cmd.argv);
    if (key.empty()) return send_node(any_master(), bytes_of(cmd), handler, cmd.no_timeout);
    send_slot(resp::key_slot(key), bytes_of(cmd), handler, cmd.no_timeout);
}

void cluster_backend::pass(const passthrough& cmd, reply_handler* handler) {
    const cluster_plan plan = plan_cluster_command(cmd.argv);
    switch (plan.route) {
        case cluster_route::slot:
            return send_by_first_key(cmd, handler);
        case cluster_route::split:
            return split(cmd, plan, handler);
        case cluster_route::all_masters:
            if (plan.merge == cluster_merge::scan) return scan(cmd, handler);
            return fan_out(cmd, plan, handler);
        case cluster_route::any_master:
            if (plan.merge == cluster_merge::info)
                return send_node(any_master(), bytes_of(cmd), new rewrite(handler, rewrite_info), cmd.no_timeout);
            return send_node(any_master(), bytes_of(cmd), handler, cmd.no_timeout);
        case cluster_route::local:
            return answer_now(handler, plan.local_reply);
    }
}

void cluster_backend::split(const passthrough& cmd, const cluster_plan& plan, reply_handler* handler) {
    auto parts = split_by_slot(cmd.argv, plan);
    if (parts.size() <= 1) return send_by_first_key(cmd, handler);  // one slot, or an arity error for Redis
    stats_.cluster_split_commands.add();
    const std::size_t total_keys = (cmd.argv.size() - plan.first_key) / plan.stride;
    std::vector<std::pair<std::uint16_t, std::string>> sends;
    sends.reserve(parts.size());
    for (const auto& p : parts) sends.emplace_back(p.slot, encode(p.argv));
    const std::size_t count = parts.size();  // not in the call below: parts is moved there
    auto* g = new gather(handler, plan.merge, count, std::move(parts), total_keys);
    for (std::size_t i = 0; i < sends.size(); ++i) send_slot(sends[i].first, std::move(sends[i].second), g->part(i), false);
    g->dispatched();
}

void cluster_backend::fan_out(const passthrough& cmd, const cluster_plan& plan, reply_handler* handler) {
    const auto all = masters();  // a copy: a reply answered at once may bring a new map
    if (all.empty()) return send_node({}, {}, handler, false);
    const std::string bytes = bytes_of(cmd);
    auto* g = new gather(handler, plan.merge, all.size());
    for (std::size_t i = 0; i < all.size(); ++i) send_node(all[i], bytes, g->part(i), cmd.no_timeout);
    g->dispatched();
}

// SCAN walks the masters in address order; the client's cursor says which and where
// (cluster_merge.h). A map that changes under a SCAN may repeat or skip keys, as a resharding
// does to SCAN on a cluster-aware client.
void cluster_backend::scan(const passthrough& cmd, reply_handler* handler) {
    const auto& all = masters();
    if (all.empty()) return send_node({}, {}, handler, false);
    if (cmd.argv.size() < 2) return send_node(all.front(), encode(cmd.argv), handler, false);  // Redis's arity error
    const auto pos = decode_scan_cursor(cmd.argv[1], all.size());
    if (!pos) return answer_now(handler, "-ERR invalid cursor\r\n");
    std::vector<std::string_view> argv(cmd.argv.begin(), cmd.argv.end());
    argv[1] = pos->node_cursor;
    send_node(all[pos->index], encode(argv), new rewrite(handler, rewrite_scan, pos->index, all.size()), false);
}

}  // namespace herdguard
