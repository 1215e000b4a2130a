#include "herdguard/server/client_directory_sync.h"

#include <boost/asio/post.hpp>

#include "herdguard/resp/reply_value.h"
#include "herdguard/resp/request_parser.h"
#include "herdguard/util/clocks.h"
#include "herdguard/util/strings.h"

namespace herdguard {

namespace {

using boost::system::error_code;

constexpr std::size_t max_asks = 256;  // CLIENT LISTs waiting for answers; beyond: this instance's only
const std::string requests_channel = "herdguard:clients";
std::string answers_channel(std::uint32_t tag) { return requests_channel + ":" + std::to_string(tag); }

// One reply to a callback, then gone.
class callback_reply final : public reply_handler {
public:
    explicit callback_reply(std::function<void(const resp::reply_value&)> fn) : fn_(std::move(fn)) {}
    void on_reply(std::string_view raw) override { finish(resp::decode_reply(raw)); }
    void on_failure(std::string_view error) override { finish(resp::decode_reply(error)); }

private:
    ~callback_reply() = default;
    void finish(const resp::reply_value& v) {
        auto fn = std::move(fn_);
        delete this;
        fn(v);
    }
    std::function<void(const resp::reply_value&)> fn_;
};

// "a b c" -> the words; at most `n` (the last takes the rest).
std::vector<std::string_view> words(std::string_view s, std::size_t n) {
    std::vector<std::string_view> out;
    while (!s.empty() && out.size() + 1 < n) {
        const auto sp = s.find(' ');
        out.push_back(s.substr(0, sp));
        if (sp == std::string_view::npos) return out;
        s.remove_prefix(sp + 1);
    }
    if (!s.empty()) out.push_back(s);
    return out;
}

std::uint64_t number(std::string_view s) {
    std::int64_t v = 0;
    return resp::parse_int64(s, v) && v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

}  // namespace

client_directory_sync::client_directory_sync(asio::any_io_executor ex, std::function<backend&()> redis,
                                             std::function<std::shared_ptr<client_link>()> open_link,
                                             client_directory& directory, shared_connection_registry& registry,
                                             bool cluster)
    : ex_(ex), redis_(std::move(redis)), open_link_(std::move(open_link)), directory_(directory),
      registry_(registry), cluster_(cluster), retry_(ex) {}

void client_directory_sync::start() {
    asio::post(ex_, [self = shared_from_this()] { self->subscribe(); });
}

void client_directory_sync::stop() {
    asio::post(ex_, [self = shared_from_this()] {
        self->stopped_ = true;
        self->retry_.cancel();
        if (self->link_) {
            self->link_->set_on_closed(nullptr);
            self->link_->set_push_sink(nullptr);
            self->link_->stop();
            self->link_.reset();
        }
        // What still waits for answers goes with what it has.
        while (!self->asks_.empty()) self->finish(self->asks_.begin()->first);
    });
}

void client_directory_sync::subscribe() {
    if (stopped_) return;
    subscribed_ = false;
    link_ = open_link_();
    std::weak_ptr<client_directory_sync> weak = weak_from_this();
    link_->set_push_sink([weak](std::string_view raw) {
        if (auto self = weak.lock()) self->on_push(raw);
    });
    link_->set_on_closed([weak](std::string_view) {
        auto self = weak.lock();
        if (!self || self->stopped_) return;
        self->subscribed_ = false;
        self->retry_.expires_after(resubscribe_after);
        self->retry_.async_wait([weak](const error_code& ec) {
            if (auto s = weak.lock(); s && !ec) s->subscribe();
        });
    });
    link_->start();
    const std::string mine = answers_channel(directory_.tag());
    const std::string_view argv[] = {"SUBSCRIBE", requests_channel, mine};
    link_->pass({argv, {}, true}, nullptr);  // its confirmations and messages come as pushes
}

void client_directory_sync::on_push(std::string_view raw) {
    const auto v = resp::decode_reply(raw);
    if (v.elements.size() != 3) return;
    const std::string& kind = v.elements[0].str;
    if (kind == "subscribe" && v.elements[1].str == answers_channel(directory_.tag())) subscribed_ = true;
    if (kind != "message") return;
    if (v.elements[1].str == requests_channel) on_request(v.elements[2].str);
    else on_answer(v.elements[2].str);
}

// "list <tag> <n>" / "kill <tag> <n> <id>" from another instance: answered on its channel.
void client_directory_sync::on_request(std::string_view payload) {
    const auto w = words(payload, 4);
    if (w.size() < 3) return;
    const std::uint64_t from = number(w[1]);
    if (from == directory_.tag()) return;  // our own request
    std::string answer = std::string(w[2]) + " " + std::to_string(directory_.tag()) + "\n";
    if (w[0] == "list") {
        answer += list_answer(registry_.own_ids(), directory_.snapshot(unix_now_ms(), steady_now_ns()));
    } else if (w[0] == "kill" && w.size() == 4) {
        const std::uint64_t id = number(w[3]);
        if (client_directory::tag_of(id) != directory_.tag()) return;  // another's client: not ours to answer
        answer += directory_.kill_id(id) ? "1" : "0";
    } else {
        return;
    }
    publish(answers_channel(static_cast<std::uint32_t>(from)), answer, &discard_reply());
}

// "<n> <tag>\n<answer>" for one of our asks.
void client_directory_sync::on_answer(std::string_view payload) {
    const auto nl = payload.find('\n');
    if (nl == std::string_view::npos) return;
    const auto w = words(payload.substr(0, nl), 2);  // the ask's number, the answering tag
    if (w.size() != 2) return;
    auto it = asks_.find(number(w[0]));
    if (it == asks_.end()) return;  // too late: that listing went without it
    ask& a = it->second;
    const std::string_view body = payload.substr(nl + 1);
    if (a.list) read_list_answer(body, a.remote);
    else a.killed = a.killed || body == "1";
    if (++a.got == a.expected || (!a.list && a.killed)) finish(it->first);
}

void client_directory_sync::finish(std::uint64_t n) {
    auto it = asks_.find(n);
    if (it == asks_.end()) return;
    ask a = std::move(it->second);
    asks_.erase(it);
    a.timer->cancel();
    a.done(a);
}

void client_directory_sync::publish(const std::string& channel, const std::string& payload, reply_handler* handler) {
    const std::string_view argv[] = {"PUBLISH", channel, payload};
    redis_().request("", argv, handler);
}

void client_directory_sync::send_ask(const std::string& request, const std::string& suffix,
                                     std::function<void(const ask&)> done, bool list) {
    if (stopped_ || !subscribed_ || asks_.size() >= max_asks) {
        done(ask{});
        return;
    }
    const std::uint64_t n = ++next_ask_;
    ask& a = asks_[n];
    a.list = list;
    a.done = std::move(done);
    a.timer = std::make_unique<asio::steady_timer>(ex_, answer_timeout);
    std::weak_ptr<client_directory_sync> weak = weak_from_this();
    a.timer->async_wait([weak, n](const error_code& ec) {
        if (auto self = weak.lock(); self && !ec) self->finish(n);
    });
    publish(requests_channel, request + " " + std::to_string(n) + suffix,
            new callback_reply([weak, n, this_cluster = cluster_](const resp::reply_value& v) {
                auto self = weak.lock();
                if (!self) return;
                auto it = self->asks_.find(n);
                if (it == self->asks_.end()) return;
                if (v.is_error()) {
                    self->finish(n);
                    return;
                }
                // In front of one Redis: every subscriber but us answers a list (a kill: its
                // owner only, so wait for it or the timeout).
                if (!this_cluster && it->second.list) {
                    it->second.expected = v.integer - 1;
                    if (it->second.got >= it->second.expected) self->finish(n);
                }
            }));
}

void client_directory_sync::ask_others_then(asio::any_io_executor back, std::function<void(remote_clients)> done) {
    asio::post(ex_, [self = shared_from_this(), back, done = std::move(done)]() mutable {
        const std::string request = "list " + std::to_string(self->directory_.tag());
        self->send_ask(request, "", [back, done = std::move(done)](const ask& a) mutable {
            asio::post(back, [done = std::move(done), remote = a.remote]() mutable { done(std::move(remote)); });
        }, true);
    });
}

void client_directory_sync::kill_remote_then(std::uint64_t id, asio::any_io_executor back,
                                             std::function<void(bool)> done) {
    asio::post(ex_, [self = shared_from_this(), id, back, done = std::move(done)]() mutable {
        const std::string request = "kill " + std::to_string(self->directory_.tag());
        // The id goes after the ask's number: "kill <tag> <n> <id>".
        std::string suffix = " ";
        suffix += std::to_string(id);
        self->send_ask(request, suffix, [back, done = std::move(done)](const ask& a) mutable {
            asio::post(back, [done = std::move(done), killed = a.killed] { done(killed); });
        }, false);
    });
}

}  // namespace herdguard
