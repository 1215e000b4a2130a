// Who is connected to herdguard, so CLIENT LIST, CLIENT INFO and CLIENT KILL ID show and reach
// herdguard's clients as Redis would show and reach its own (issue 22): each client with its own
// address, its name, its id, its age and idle time, its database and its modes. Redis itself sees
// only herdguard's connections (a few shared ones, and the private ones of stateful clients), so
// a CLIENT LIST that merely went through would show no app at all until it blocked once.
//
// This file is the process-wide directory of this instance's clients (written by their sessions
// on every worker, behind one mutex, on connect, disconnect and changes of identity, never per
// command) and the pure rules of the replies. Other instances in front of the same Redis are asked
// for theirs (client_directory_sync.h), and a CLIENT LIST merges: Redis's lines without any
// herdguard's own connections, this instance's clients, then the other instances'.
//
// Ids: a client that asked CLIENT ID was told its private connection's id (Redis's), and is
// listed with it. Every other client is listed with herdguard's id for it: 2^52 + tag * 2^32 +
// n, above any id Redis gives (Redis counts from 1), unique per instance tag (20 random bits),
// and within JavaScript's exact integers.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace herdguard {

// What a session may change about its client, copied whole under the directory's lock.
struct client_identity {
    std::string name;
    std::string lib_name;
    std::string lib_ver;
    std::int64_t db = 0;
    int resp = 2;
    std::int64_t told_id = 0;  // what CLIENT ID answered it (its private connection's id), or 0
    bool multi = false;
    bool pubsub = false;
    bool tracking = false;
    bool operator==(const client_identity&) const = default;
};

// One client, as CLIENT LIST shows it: this instance's (from its entry) or another's (parsed from
// what that instance published).
struct client_view {
    std::uint64_t id = 0;  // herdguard's id
    std::string addr;      // the app's address, as herdguard's listener sees it
    std::string laddr;     // herdguard's address that the app connected to
    int fd = -1;
    std::int64_t since_ms = 0;  // unix ms at connect
    std::int64_t last_ms = 0;   // unix ms of its last request
    client_identity identity;
    // The id it is listed with: the one CLIENT ID told it, else herdguard's.
    std::uint64_t listed_id() const { return identity.told_id > 0 ? static_cast<std::uint64_t>(identity.told_id) : id; }
};

class client_directory {
public:
    static constexpr std::uint64_t first_id = std::uint64_t{1} << 52;
    static constexpr std::uint32_t tag_bits = 20;
    static std::uint32_t tag_of(std::uint64_t id) {
        return static_cast<std::uint32_t>((id - first_id) >> 32) & ((1u << tag_bits) - 1);
    }

    explicit client_directory(std::uint32_t tag) : tag_(tag & ((1u << tag_bits) - 1)) {}
    std::uint32_t tag() const { return tag_; }

    // A session's entry. `close` asks it to close from any thread (CLIENT KILL); `last_active`
    // is the one field it writes on its own: steady-clock nanoseconds of its last read (relaxed,
    // once per read; turned into unix time only when listed).
    struct entry {
        client_view fixed;  // id, addresses, fd, since: never change; identity: under the lock
        std::atomic<std::int64_t> last_active{0};
        std::function<void()> close;
    };
    std::shared_ptr<entry> add(std::string addr, std::string laddr, int fd, std::int64_t now_ms,
                               std::int64_t now_steady_ns, std::function<void()> close);
    void remove(std::uint64_t id);
    void update(std::uint64_t id, const client_identity& identity);
    // Closes this instance's client listed with `id` (either of its ids) or connected from
    // `addr`; false when there is none.
    bool kill_id(std::uint64_t id);
    bool kill_addr(std::string_view addr);

    // Every client, with last_ms in unix ms (from `now_ms` and the steady clock's `now_steady_ns`).
    std::vector<client_view> snapshot(std::int64_t now_ms, std::int64_t now_steady_ns) const;

private:
    mutable std::mutex mutex_;
    const std::uint32_t tag_;
    std::uint32_t next_ = 0;
    std::map<std::uint64_t, std::shared_ptr<entry>> entries_;
};

// ---- The pure rules -------------------------------------------------------------------------

// A client as told to the other instances: one "k=v k=v ..." line with absolute times (since=,
// last=), and back. Names and library fields never hold spaces (Redis refuses them).
std::string publish_line(const client_view& c);
std::optional<client_view> parse_published(std::string_view line);

// What one instance answers another's CLIENT LIST: "_conns <ids>" (the CLIENT IDs of its own Redis
// connections), then one publish_line per client, one a line (client_directory_sync.h carries it).
std::string list_answer(const std::set<std::int64_t>& own_connections, const std::vector<client_view>& clients);
// The other instances' answers, read: their clients, and their own Redis connections, which
// CLIENT LIST hides.
struct remote_clients {
    std::vector<client_view> clients;
    std::set<std::int64_t> hidden;
};
void read_list_answer(std::string_view answer, remote_clients& into);

// The value of `name` in a CLIENT LIST line ("" if absent), and the names in order.
std::string_view line_field(std::string_view line, std::string_view name);
std::vector<std::string_view> line_fields(std::string_view line);

// Redis 7.0's fields, for when Redis's reply has no line to take the order from.
const std::vector<std::string_view>& default_client_fields();

// One line in the order of `fields` (the names of one of Redis's own lines, so the line has what
// this Redis version shows); `cmd` is the last command shown (the asking client's "client|list").
std::string render_client_line(const client_view& c, const std::vector<std::string_view>& fields, std::int64_t now_ms,
                               std::string_view cmd);

// CLIENT LIST [TYPE t] [ID id ...]: which of herdguard's clients it shows (Redis checks the
// arguments and answers their errors itself: the command goes to Redis too).
struct client_list_filter {
    std::optional<std::string> type;  // normal, pubsub, master, replica (lower case)
    std::set<std::uint64_t> ids;      // empty: all
    bool matches(const client_view& c) const;
};
client_list_filter parse_client_list_args(const std::vector<std::string_view>& argv);

// CLIENT LIST's body through herdguard: Redis's lines except those of connections in `hidden`
// (every herdguard's own), then `clients` that the filter keeps, the asking one with `cmd`.
std::string merge_client_list(std::string_view redis_body, const std::set<std::int64_t>& hidden,
                              const std::vector<client_view>& clients, const client_list_filter& filter,
                              std::uint64_t asking_id, std::string_view cmd, std::int64_t now_ms);

}  // namespace herdguard
