// The session's command handlers that do more than forward: client authentication, the
// read-through GET and MGET, INFO with herdguard's section, RESET, HELLO and the private
// connection's life (CLIENT is session_client.cpp). The I/O loop, the ordering
// rule and the dispatch are in session.cpp; the pure halves of these handlers (planning, local
// answers, auth, the KILL policy) are in their own files beside them.
#include <spdlog/spdlog.h>

#include "herdguard/metrics/info.h"
#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_view.h"
#include "herdguard/server/client_auth.h"
#include "herdguard/server/info_reply.h"
#include "herdguard/server/local_commands.h"
#include "herdguard/server/mget.h"
#include "herdguard/server/session.h"

namespace herdguard {

// Client authentication (client_auth.h). Returns true when the request was answered here. May
// strip "AUTH user pass" from a HELLO, which then continues as usual.
bool session::auth_gate(resp::request& req, command_kind kind) {
    if (!cfg_.auth.enabled()) {  // the common case: one comparison per command
        if (kind != command_kind::needs_private && kind != command_kind::hello) return false;
        // Only a client on the shared connections may be told +OK for their credentials. Once it
        // has its own connection (another user's AUTH, MULTI, SUBSCRIBE), the AUTH must reach
        // Redis: it re-authenticates that connection, or is queued inside the transaction.
        if (private_ || state_.in_multi || state_.relay) return false;
        return apply_verdict(req, redis_credentials_gate(req.argv, kind, cfg_.redis));
    }
    return apply_verdict(req, herdguard::auth_gate(req.argv, kind, cfg_.auth, state_));
}

bool session::apply_verdict(resp::request& req, const auth_verdict& verdict) {
    if (verdict.argv_rewritten) req.is_inline = true;  // re-encoded from argv when forwarded
    if (!verdict.reply) return false;
    stats_.commands_local.add();
    reply_local(*verdict.reply);
    return true;
}

void session::herd_get(const resp::request& req, route_runtime& route) {
    backend& shared = *shared_now_;
    last_target_ = &shared;
    auto& slot = new_slot();
    // A GET with more arguments is Redis's to refuse: it is never read through (command_plan).
    worker_.server.herd.get(route, req.argv[1], worker_.herd, shared, slot, req.is_inline ? std::string_view() : req.raw);
}

void session::herd_mget(const resp::request& req) {
    backend& shared = *shared_now_;
    last_target_ = &shared;
    auto& slot = new_slot();
    auto& herd = worker_.server.herd;
    const auto& argv = req.argv;
    auto* op = new mget_gather(slot, argv.size() - 1, state_.protocol);
    for (std::size_t i = 1; i < argv.size(); ++i) {
        auto& part = op->part_handler(i - 1);
        if (auto* route = herd.find_route(argv[i])) herd.get(*route, argv[i], worker_.herd, shared, part);
        else shared.request(argv[i], {"GET", argv[i]}, &part);
    }
    op->dispatched();
}

void session::handle_info(const resp::request& req, const command_plan& p, backend* target) {
    if (p.local) {
        std::string out;
        // Taken before this command counts.
        resp::reply_writer(static_cast<resp::protocol_version>(state_.protocol)).text(out, herdguard_info(worker_.server));
        stats_.commands_local.add();
        reply_local(out);
        return;
    }
    if (!p.info_section) {
        forward(req, *target, p);
        return;
    }
    // Summed over every worker only when it is sent (INFO memory and the like go without it),
    // and taken before this command counts, as in the local case.
    std::string section = herdguard_info(worker_.server);
    stats_.commands_forwarded.add();
    last_target_ = target;
    auto& slot = new_slot();
    auto* wrap = new info_append(slot, std::move(section));
    target->pass(passthrough_of(req, false), wrap);
}

void session::handle_reset() {
    stats_.commands_local.add();
    // A fresh connection is the reset state. The run loop waited for every outstanding reply
    // before RESET (plan.barrier), so the private connection can go at once.
    drop_private();
    state_.reset(cfg_.auth.enabled());  // RESET returns to the unauthenticated state
    state_.db = cfg_.redis.database;
    told_id_ = 0;
    speak(state_.protocol);
    reply_local("+RESET\r\n");
}

void session::open_private() {
    stats_.private_connections.add();
    worker_.server.private_connections_open.fetch_add(1, std::memory_order_relaxed);
    private_ = worker_.open_client_link(state_.protocol);
    std::weak_ptr<session> weak = weak_from_this();
    private_->set_on_closed([weak](std::string_view) {
        if (auto s = weak.lock()) s->on_private_closed();
    });
    private_->start();
    // Replay what the client set while it was on the shared connection: its protocol is the
    // link's own (HELLO 3 in its handshake), its name and library are sent first here.
    if (state_.protocol == 3) stream_pushes();
    if (state_.name) private_->request("", {"CLIENT", "SETNAME", *state_.name}, &discard_reply());
    if (state_.lib_name) private_->request("", {"CLIENT", "SETINFO", "LIB-NAME", *state_.lib_name}, &discard_reply());
    if (state_.lib_ver) private_->request("", {"CLIENT", "SETINFO", "LIB-VER", *state_.lib_ver}, &discard_reply());
}

// The private connection is stopped (failing what it still holds, synchronously) and let go.
void session::drop_private() {
    if (!private_) return;
    private_->stop();
    if (last_target_ == private_.get()) last_target_ = nullptr;
    private_.reset();
    worker_.server.private_connections_open.fetch_sub(1, std::memory_order_relaxed);
}

// Pushes from the private connection go to the client as they arrive, between its replies: the
// relay (SUBSCRIBE, MONITOR) and RESP3's out-of-band pushes (CLIENT TRACKING invalidations).
void session::stream_pushes() {
    private_->set_push_sink([this](std::string_view bytes) {
        append_out(bytes);
        flush_out();
    });
}

namespace {

// HELLO's reply, passed on; `settled` learns whether Redis took it (not an error, and not
// +QUEUED inside MULTI, where the switch would only happen at EXEC). Deletes itself.
class hello_reply final : public reply_handler {
public:
    hello_reply(reply_handler& slot, std::function<void(bool)> settled) : slot_(slot), settled_(std::move(settled)) {}
    void on_reply(std::string_view raw) override {
        settled_(!resp::reply_view(raw).is_error() && raw != "+QUEUED\r\n");
        slot_.on_reply(raw);
        delete this;
    }
    void on_failure(std::string_view error) override {
        settled_(false);
        slot_.on_failure(error);
        delete this;
    }

private:
    ~hello_reply() = default;
    reply_handler& slot_;
    std::function<void(bool)> settled_;
};

}  // namespace

// HELLO 2 / HELLO 3 (plan_hello): the client speaks that protocol once Redis has said yes. On a
// shared connection (already of that protocol: target_of) Redis answers it without SETNAME, which
// would rename a connection other clients share; the name is kept here, as CLIENT SETNAME's is.
// The client's private connection takes the whole command. Until the reply is in, the next
// command waits (protocol_pending_): how it is answered depends on the outcome.
void session::handle_hello(const resp::request& req, const command_plan& p, backend* target) {
    const auto& argv = req.argv;
    std::optional<std::string> name;
    for (std::size_t i = 2; i + 1 < argv.size(); ++i) {
        if (iequals(argv[i], "setname")) name = std::string(argv[++i]);
        else i += 2;  // AUTH user pass (the plan let nothing else through)
    }
    const int protocol = p.hello_protocol;
    const bool on_private = private_ && target == private_.get();
    protocol_pending_ = true;
    auto* reply = new hello_reply(new_slot(), [this, protocol, name, on_private](bool accepted) {
        protocol_pending_ = false;
        if (!accepted) return;
        if (name) state_.name = *name;
        speak(protocol);
        note_identity();
        if (on_private && protocol == 3 && private_) stream_pushes();
    });
    stats_.commands_forwarded.add();
    last_target_ = target;
    if (on_private) {
        target->pass(passthrough_of(req, false), reply);
        return;
    }
    const std::string_view hello[] = {argv[0], argv[1]};
    target->pass({hello, {}, false}, reply);
}

void session::on_private_closed() {
    if (!private_) return;
    if (private_->was_connected()) {
        // Its MULTI, SELECT or subscriptions are gone: like Redis restarting under a direct
        // client, the client's connection ends (after the error replies already queued).
        closing_ = true;
        stop_reading();
    } else {
        // Never connected: no state was lost. The commands got "redis unavailable"; the client
        // stays on the shared connection.
        drop_private();
        state_.relay = false;
    }
}

}  // namespace herdguard
