// The session's CLIENT command: the KILL policy (client_kill.h), the subcommands kept per client
// (local_commands.h), and what Redis cannot know about herdguard's clients: CLIENT LIST and
// CLIENT INFO merged with the directory of herdguard's clients (and the other instances'), CLIENT
// KILL by their ids and addresses (client_directory.h).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <boost/asio/post.hpp>

#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_view.h"
#include "herdguard/server/client_directory_sync.h"
#include "herdguard/server/client_kill.h"
#include "herdguard/server/local_commands.h"
#include "herdguard/server/session.h"
#include "herdguard/util/clocks.h"
#include "herdguard/util/strings.h"

namespace herdguard {

namespace {

// "ip:port" as Redis writes addr= and laddr= ("[::1]:port" is not Redis's form: it writes
// "::1:port"); a unix socket as "path:0".
std::string endpoint_text(int fd, bool peer) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    const int r = peer ? ::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len)
                       : ::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
    if (r != 0) return "?:0";
    char ip[INET6_ADDRSTRLEN] = {};
    if (ss.ss_family == AF_INET) {
        const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
        ::inet_ntop(AF_INET, &a->sin_addr, ip, sizeof ip);
        return std::string(ip) + ":" + std::to_string(ntohs(a->sin_port));
    }
    if (ss.ss_family == AF_INET6) {
        const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
        ::inet_ntop(AF_INET6, &a->sin6_addr, ip, sizeof ip);
        return std::string(ip) + ":" + std::to_string(ntohs(a->sin6_port));
    }
    if (ss.ss_family == AF_UNIX) {
        const auto* a = reinterpret_cast<const sockaddr_un*>(&ss);
        return std::string(a->sun_path) + ":0";
    }
    return "?:0";
}

// Redis's reply body as text: a bulk string (RESP2) or a verbatim string (RESP3, "txt:" off).
std::optional<std::string_view> text_body(const resp::reply_view& reply) {
    auto body = reply.bulk();
    if (!body) return std::nullopt;
    if (reply.type() == resp::reply_type::verbatim && body->size() >= 4) return body->substr(4);
    return body;
}

// The same type of reply with another body.
std::string text_reply(const resp::reply_view& like, const std::string& body) {
    std::string out;
    if (like.type() != resp::reply_type::verbatim) {
        resp::append_bulk(out, body);
        return out;
    }
    out += '=';
    out += std::to_string(body.size() + 4);
    out += "\r\ntxt:";
    out += body;
    out += "\r\n";
    return out;
}

// CLIENT LIST and CLIENT INFO: Redis's reply (and for LIST the other instances' clients, asked
// over pub/sub meanwhile), made into herdguard's. Deletes itself when both are in.
class client_list_reply {
public:
    using compose = std::function<std::string(const resp::reply_view& redis, const remote_clients* remote)>;
    client_list_reply(reply_handler& slot, bool with_remote, compose fn)
        : slot_(slot), waiting_(with_remote ? 2 : 1), compose_(std::move(fn)) {
        redis_.owner = this;
    }
    reply_handler* redis_part() { return &redis_; }
    // The other instances' answers (client_directory_sync.h), on the session's thread.
    void remote(remote_clients r) {
        remote_ = std::move(r);
        have_remote_ = true;
        done();
    }

private:
    struct part final : reply_handler {
        client_list_reply* owner = nullptr;
        void on_reply(std::string_view raw) override { owner->got(raw, false); }
        void on_failure(std::string_view raw) override { owner->got(raw, true); }
    };
    void got(std::string_view raw, bool failed) {
        raw_ = raw;
        failed_ = failed;
        done();
    }
    void done() {
        if (--waiting_ > 0) return;
        auto& slot = slot_;
        const resp::reply_view redis(raw_);
        if (failed_) {
            const std::string error = std::move(raw_);
            delete this;
            slot.on_failure(error);
            return;
        }
        std::string out;
        if (redis.is_error() || !redis.bulk()) out = std::move(raw_);  // Redis's error (a bad TYPE, say): as it is
        else out = compose_(redis, have_remote_ ? &remote_ : nullptr);
        delete this;
        slot.on_reply(out);
    }
    ~client_list_reply() = default;

    reply_handler& slot_;
    int waiting_;
    compose compose_;
    part redis_;
    std::string raw_;
    bool failed_ = false;
    remote_clients remote_;
    bool have_remote_ = false;
};

// CLIENT ID's reply, passed on; the id is what this client is listed with from now on.
class told_id_reply final : public reply_handler {
public:
    told_id_reply(reply_handler& slot, std::function<void(std::int64_t)> told) : slot_(slot), told_(std::move(told)) {}
    void on_reply(std::string_view raw) override {
        auto& slot = slot_;
        if (auto id = resp::reply_view(raw).integer()) told_(*id);
        delete this;
        slot.on_reply(raw);
    }
    void on_failure(std::string_view error) override {
        auto& slot = slot_;
        delete this;
        slot.on_failure(error);
    }

private:
    ~told_id_reply() = default;
    reply_handler& slot_;
    std::function<void(std::int64_t)> told_;
};

}  // namespace

void session::register_client() {
    const int fd = socket_.socket().native_handle();
    std::weak_ptr<session> weak = weak_from_this();
    auto ex = socket_.get_executor();
    // CLIENT KILL from any thread: closed on its own, as the idle timeout closes it.
    auto close = [weak, ex] {
        asio::post(ex, [weak] {
            auto s = weak.lock();
            if (!s || s->closed_ || s->closing_) return;
            s->closing_ = true;
            if (s->private_) s->private_->stop();
            s->stop_reading();
        });
    };
    entry_ = worker_.server.clients.add(endpoint_text(fd, true), endpoint_text(fd, false), fd, unix_now_ms(), steady_now_ns(),
                                        std::move(close));
    note_identity();
}

void session::note_identity() {
    if (!entry_) return;
    client_identity i;
    i.name = state_.name.value_or("");
    i.lib_name = state_.lib_name.value_or("");
    i.lib_ver = state_.lib_ver.value_or("");
    i.db = state_.db;
    i.resp = state_.protocol;
    i.told_id = told_id_;
    i.multi = state_.in_multi;
    i.pubsub = state_.relay;
    i.tracking = state_.tracking;
    worker_.server.clients.update(entry_->fixed.id, i);
}

void session::handle_client(const resp::request& req, const command_plan& p, backend* target) {
    const auto& argv = req.argv;
    if (p.client == client_subcommand::kill && handle_client_kill(req, target)) return;
    if (p.client == client_subcommand::list && target != nullptr && !state_.in_multi) {
        handle_client_list(req, *target);
        return;
    }
    if (p.client == client_subcommand::id && target != nullptr && !state_.in_multi) {
        stats_.commands_forwarded.add();
        last_target_ = target;
        std::weak_ptr<session> weak = weak_from_this();
        target->pass(passthrough_of(req, false), new told_id_reply(new_slot(), [weak](std::int64_t id) {
                         if (auto s = weak.lock()) {
                             s->told_id_ = id;
                             s->note_identity();
                         }
                     }));
        return;
    }
    if (target != nullptr) {
        forward(req, *target, p);
        note_forwarded_client(argv, p.client, state_);
        return;
    }
    stats_.commands_local.add();
    if (auto reply = answer_client(argv, p.client, state_)) reply_local(*reply);
}

// CLIENT KILL ID/ADDR of one of herdguard's clients, which Redis does not know: this instance's
// closes now (+OK or :1 as Redis answers), another instance's once that instance has closed it
// (client_directory_sync.h). True when answered here.
bool session::handle_client_kill(const resp::request& req, backend* target) {
    const auto& argv = req.argv;
    auto& directory = worker_.server.clients;
    auto answer = [&](std::string_view bytes) {
        stats_.commands_local.add();
        reply_local(bytes);
        return true;
    };
    if (argv.size() == 3) {  // the old form, CLIENT KILL addr
        if (directory.kill_addr(argv[2])) return answer("+OK\r\n");
    } else if (argv.size() == 4 ||
               (argv.size() == 6 && iequals(argv[4], "skipme") && iequals_any(argv[5], {"yes", "no"}))) {
        const bool skipme = argv.size() == 4 || !iequals(argv[5], "no");
        std::int64_t id = 0;
        const bool own = entry_ && ((iequals(argv[2], "addr") && argv[3] == entry_->fixed.addr) ||
                                    (iequals(argv[2], "id") && resp::parse_int64(argv[3], id) &&
                                     (static_cast<std::uint64_t>(id) == entry_->fixed.id ||
                                      (told_id_ > 0 && id == told_id_))));
        if (own && skipme) return answer(":0\r\n");
        if (iequals(argv[2], "addr") && directory.kill_addr(argv[3])) return answer(":1\r\n");
        if (iequals(argv[2], "id") && resp::parse_int64(argv[3], id) &&
            static_cast<std::uint64_t>(id) >= client_directory::first_id) {
            if (directory.kill_id(static_cast<std::uint64_t>(id))) return answer(":1\r\n");
            if (client_directory::tag_of(static_cast<std::uint64_t>(id)) != directory.tag() &&
                worker_.server.clients_sync) {
                stats_.commands_local.add();
                auto& slot = new_slot();
                worker_.server.clients_sync->kill_remote_then(
                    static_cast<std::uint64_t>(id), socket_.get_executor(),
                    [self = shared_from_this(), &slot](bool killed) { slot.on_reply(killed ? ":1\r\n" : ":0\r\n"); });
                return true;
            }
            return answer(":0\r\n");
        }
    }
    auto refusal = refuse_client_kill(argv, worker_.server.registry);
    if (!refusal) return false;
    if (argv.size() == 3 || target == nullptr) return answer(*refusal);  // the old form has nothing to check
    // Redis checks the arguments first (client_kill.h); its error, or the refusal.
    const client_kill_probe probe = make_client_kill_probe(argv);
    auto* check = new client_kill_check(new_slot(), probe.dangling ? "-ERR syntax error\r\n" : *refusal);
    stats_.commands_forwarded.add();
    last_target_ = target;
    target->pass({probe.argv, {}, false}, check);
    return true;
}

void session::handle_client_list(const resp::request& req, backend& target) {
    const auto& argv = req.argv;
    const bool list = iequals(argv[1], "list");
    stats_.commands_forwarded.add();
    last_target_ = &target;
    server_state& server = worker_.server;
    const std::uint64_t me = entry_ ? entry_->fixed.id : 0;
    client_list_filter filter = list ? parse_client_list_args(argv) : client_list_filter{};
    auto* merged = new client_list_reply(
        new_slot(), list && server.clients_sync != nullptr,
        [&server, me, list, filter = std::move(filter)](const resp::reply_view& redis, const remote_clients* remote) {
            const std::string_view body = text_body(redis).value_or(std::string_view());
            const std::int64_t now = unix_now_ms();
            std::vector<client_view> clients = server.clients.snapshot(now, steady_now_ns());
            if (!list) {  // CLIENT INFO: this client, with the fields of Redis's own line
                std::vector<std::string_view> fields = line_fields(body.substr(0, body.find('\n')));
                if (fields.empty()) fields = default_client_fields();
                for (const auto& c : clients)
                    if (c.id == me) return text_reply(redis, render_client_line(c, fields, now, "client|info") + "\n");
                return std::string(redis.bytes());
            }
            std::set<std::int64_t> hidden = server.registry.own_ids();
            if (remote) {
                hidden.insert(remote->hidden.begin(), remote->hidden.end());
                clients.insert(clients.end(), remote->clients.begin(), remote->clients.end());
            }
            // A client listed with the id CLIENT ID told it stands for that private connection.
            for (const auto& c : clients)
                if (c.identity.told_id > 0) hidden.insert(c.identity.told_id);
            return text_reply(redis, merge_client_list(body, hidden, clients, filter, me, "client|list", now));
        });
    target.pass(passthrough_of(req, false), merged->redis_part());
    if (!list || !server.clients_sync) return;
    // The other instances, asked live (client_directory_sync.h); the reply waits for both.
    server.clients_sync->ask_others_then(socket_.get_executor(), [self = shared_from_this(), merged](remote_clients r) {
        merged->remote(std::move(r));
    });
}

}  // namespace herdguard
