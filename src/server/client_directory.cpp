#include "herdguard/server/client_directory.h"

#include <algorithm>
#include <utility>

#include "herdguard/resp/request_parser.h"
#include "herdguard/util/strings.h"

namespace herdguard {

// ---- The directory --------------------------------------------------------------------------

std::shared_ptr<client_directory::entry> client_directory::add(std::string addr, std::string laddr, int fd,
                                                               std::int64_t now_ms, std::int64_t now_steady_ns,
                                                               std::function<void()> close) {
    auto e = std::make_shared<entry>();
    e->fixed.addr = std::move(addr);
    e->fixed.laddr = std::move(laddr);
    e->fixed.fd = fd;
    e->fixed.since_ms = now_ms;
    e->last_active.store(now_steady_ns, std::memory_order_relaxed);
    e->close = std::move(close);
    std::lock_guard lock(mutex_);
    e->fixed.id = first_id + (std::uint64_t{tag_} << 32) + next_++;
    entries_.emplace(e->fixed.id, e);
    return e;
}

void client_directory::remove(std::uint64_t id) {
    std::lock_guard lock(mutex_);
    entries_.erase(id);
}

void client_directory::update(std::uint64_t id, const client_identity& identity) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second->fixed.identity == identity) return;
    it->second->fixed.identity = identity;
}

bool client_directory::kill_id(std::uint64_t id) {
    std::function<void()> close;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [own, e] : entries_) {
            if (own == id || e->fixed.listed_id() == id) {
                close = e->close;
                break;
            }
        }
    }
    if (!close) return false;
    close();
    return true;
}

bool client_directory::kill_addr(std::string_view addr) {
    std::function<void()> close;
    {
        std::lock_guard lock(mutex_);
        for (const auto& [own, e] : entries_) {
            if (e->fixed.addr == addr) {
                close = e->close;
                break;
            }
        }
    }
    if (!close) return false;
    close();
    return true;
}

std::vector<client_view> client_directory::snapshot(std::int64_t now_ms, std::int64_t now_steady_ns) const {
    std::lock_guard lock(mutex_);
    std::vector<client_view> out;
    out.reserve(entries_.size());
    for (const auto& [id, e] : entries_) {
        out.push_back(e->fixed);
        const std::int64_t ago_ns = now_steady_ns - e->last_active.load(std::memory_order_relaxed);
        out.back().last_ms = now_ms - std::max<std::int64_t>(0, ago_ns) / 1000000;
    }
    return out;
}

// ---- Lines ----------------------------------------------------------------------------------

namespace {

std::string our_flags(const client_identity& i) {
    std::string f;
    if (i.pubsub) f += 'P';
    if (i.multi) f += 'x';
    if (i.tracking) f += 't';
    return f.empty() ? "N" : f;
}

std::int64_t number(std::string_view s) {
    std::int64_t v = 0;
    return resp::parse_int64(s, v) ? v : 0;
}

}  // namespace

std::string_view line_field(std::string_view line, std::string_view name) {
    std::string_view found;
    for_each_piece(line, ' ', [&](std::string_view kv) {
        if (found.data() == nullptr && kv.size() > name.size() && kv[name.size()] == '=' &&
            kv.substr(0, name.size()) == name)
            found = kv.substr(name.size() + 1);
    });
    return found;
}

std::vector<std::string_view> line_fields(std::string_view line) {
    std::vector<std::string_view> out;
    for_each_piece(line, ' ', [&](std::string_view kv) {
        if (auto eq = kv.find('='); eq != std::string_view::npos) out.push_back(kv.substr(0, eq));
    });
    return out;
}

const std::vector<std::string_view>& default_client_fields() {
    static const std::vector<std::string_view> fields = {
        "id",   "addr", "laddr",   "fd",       "name",      "age",  "idle", "flags",   "db",
        "sub",  "psub", "ssub",    "multi",    "qbuf",      "qbuf-free", "argv-mem", "multi-mem",
        "rbs",  "rbp",  "obl",     "oll",      "omem",      "tot-mem", "events", "cmd", "user",
        "redir", "resp"};
    return fields;
}

std::string publish_line(const client_view& c) {
    const auto& i = c.identity;
    return "id=" + std::to_string(c.id) + " addr=" + c.addr + " laddr=" + c.laddr + " fd=" + std::to_string(c.fd) +
           " since=" + std::to_string(c.since_ms) + " last=" + std::to_string(c.last_ms) + " name=" + i.name +
           " lib-name=" + i.lib_name + " lib-ver=" + i.lib_ver + " db=" + std::to_string(i.db) +
           " resp=" + std::to_string(i.resp) + " told=" + std::to_string(i.told_id) + " flags=" + our_flags(i);
}

std::optional<client_view> parse_published(std::string_view line) {
    client_view c;
    std::int64_t id = 0;
    if (!resp::parse_int64(line_field(line, "id"), id) || id <= 0) return std::nullopt;
    c.id = static_cast<std::uint64_t>(id);
    c.addr = std::string(line_field(line, "addr"));
    c.laddr = std::string(line_field(line, "laddr"));
    c.fd = static_cast<int>(number(line_field(line, "fd")));
    c.since_ms = number(line_field(line, "since"));
    c.last_ms = number(line_field(line, "last"));
    auto& i = c.identity;
    i.name = std::string(line_field(line, "name"));
    i.lib_name = std::string(line_field(line, "lib-name"));
    i.lib_ver = std::string(line_field(line, "lib-ver"));
    i.db = number(line_field(line, "db"));
    i.resp = static_cast<int>(number(line_field(line, "resp")));
    i.told_id = number(line_field(line, "told"));
    const std::string_view flags = line_field(line, "flags");
    i.pubsub = flags.find('P') != std::string_view::npos;
    i.multi = flags.find('x') != std::string_view::npos;
    i.tracking = flags.find('t') != std::string_view::npos;
    return c;
}

std::string list_answer(const std::set<std::int64_t>& own_connections, const std::vector<client_view>& clients) {
    std::string out = "_conns";
    for (auto id : own_connections) {
        out += ' ';
        out += std::to_string(id);
    }
    for (const auto& c : clients) {
        out += '\n';
        out += publish_line(c);
    }
    return out;
}

void read_list_answer(std::string_view answer, remote_clients& into) {
    for_each_piece(answer, '\n', [&](std::string_view line) {
        if (line.rfind("_conns", 0) == 0) {
            for_each_piece(line.substr(6), ' ', [&](std::string_view piece) {
                std::int64_t id = 0;
                if (resp::parse_int64(piece, id)) into.hidden.insert(id);
            });
        } else if (auto c = parse_published(line)) {
            into.clients.push_back(std::move(*c));
        }
    });
}

std::string render_client_line(const client_view& c, const std::vector<std::string_view>& fields, std::int64_t now_ms,
                               std::string_view cmd) {
    const auto& i = c.identity;
    auto seconds = [&](std::int64_t since) { return std::to_string(std::max<std::int64_t>(0, now_ms - since) / 1000); };
    std::string out;
    for (const std::string_view f : fields) {
        if (!out.empty()) out += ' ';
        out += f;
        out += '=';
        if (f == "id") out += std::to_string(c.listed_id());
        else if (f == "addr") out += c.addr;
        else if (f == "laddr") out += c.laddr;
        else if (f == "fd") out += std::to_string(c.fd);
        else if (f == "name") out += i.name;
        else if (f == "age") out += seconds(c.since_ms);
        else if (f == "idle") out += seconds(c.last_ms);
        else if (f == "flags") out += our_flags(i);
        else if (f == "db") out += std::to_string(i.db);
        else if (f == "multi") out += i.multi ? "0" : "-1";
        else if (f == "events") out += 'r';
        else if (f == "cmd") out += cmd;
        else if (f == "user") out += "default";
        else if (f == "redir") out += "-1";
        else if (f == "resp") out += std::to_string(i.resp);
        else if (f == "lib-name") out += i.lib_name;
        else if (f == "lib-ver") out += i.lib_ver;
        else if (f == "io-thread") out += '0';
        else out += '0';  // buffers and memory: herdguard's, not Redis's, and not what they measure
    }
    return out;
}

// ---- CLIENT LIST ----------------------------------------------------------------------------

bool client_list_filter::matches(const client_view& c) const {
    if (!ids.empty() && ids.count(c.listed_id()) == 0) return false;
    if (!type) return true;
    if (*type == "pubsub") return c.identity.pubsub;
    if (*type == "normal") return !c.identity.pubsub;
    return false;  // master, replica, slave: no client of herdguard is one
}

client_list_filter parse_client_list_args(const std::vector<std::string_view>& argv) {
    client_list_filter f;
    for (std::size_t i = 2; i + 1 < argv.size(); ++i) {
        if (iequals(argv[i], "type")) {
            f.type = ascii_lower(argv[++i]);
        } else if (iequals(argv[i], "id")) {
            for (++i; i < argv.size(); ++i) {
                std::int64_t id = 0;
                if (resp::parse_int64(argv[i], id) && id > 0) f.ids.insert(static_cast<std::uint64_t>(id));
            }
        }
    }
    return f;
}

std::string merge_client_list(std::string_view redis_body, const std::set<std::int64_t>& hidden,
                              const std::vector<client_view>& clients, const client_list_filter& filter,
                              std::uint64_t asking_id, std::string_view cmd, std::int64_t now_ms) {
    std::string out;
    std::vector<std::string_view> fields;
    for_each_piece(redis_body, '\n', [&](std::string_view line) {
        if (fields.empty()) fields = line_fields(line);
        if (hidden.count(number(line_field(line, "id"))) != 0) return;
        out += line;
        out += '\n';
    });
    if (fields.empty()) fields = default_client_fields();
    for (const auto& c : clients) {
        if (!filter.matches(c)) continue;
        out += render_client_line(c, fields, now_ms, c.id == asking_id ? cmd : std::string_view("NULL"));
        out += '\n';
    }
    return out;
}

}  // namespace herdguard
