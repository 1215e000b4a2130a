// Integration-test harness: real redis-server and herdguard processes on free loopback ports,
// hiredis clients whose replies serialise canonically (so proxy and direct replies compare with
// ==), raw sockets for byte-level protocol checks, and a bounded command runner for redis-cli.
//
// Ownership: every process a test starts is owned by a `process` object and is stopped by PID
// (SIGTERM, then SIGKILL after a bounded wait, always reaped) when that object dies. Children also
// get PR_SET_PDEATHSIG so a crashed test binary does not leave redis-servers behind.
//
// Timeouts: every wait here is bounded; readiness is polled (connect + PING every 20 ms, ~5 s at
// most), socket reads carry SO_RCVTIMEO. A harness failure throws harness_error, which Catch
// reports as a failed test with the message (for processes: the tail of their log).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace herdguard::test {

using namespace std::chrono_literals;
using milliseconds = std::chrono::milliseconds;

struct harness_error : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The binaries under test: the build's own, unless HG_TEST_HERDGUARD / HG_TEST_DEMO_UPSTREAM
// name others. The test command runs this suite (built once, in release) against the ASan+UBSan
// and TSan builds of herdguard this way, without compiling the tests three times.
const std::string& herdguard_binary();
const std::string& demo_upstream_binary();

// The name of the sanitizer the herdguard under test was built with (HG_TEST_SANITIZER: "asan",
// "tsan"), or "" for a plain build. Sanitizers multiply memory (shadow, quarantine) and CPU, so
// tests that measure the proxy's RSS report it instead of asserting bounds made for a plain build.
const std::string& sanitizer();

// A port that was free a moment ago: bind 127.0.0.1:0, read it, close. Racy by nature; starters
// retry with a new port when the child reports the address in use.
std::uint16_t free_port();

// A blocking TCP connection to 127.0.0.1:port with send/receive timeouts and TCP_NODELAY; -1 with
// `why` set on failure. The caller closes it.
int connect_loopback(std::uint16_t port, milliseconds io_timeout, std::string& why);

// A per-test scratch directory (logs, redis dir, configs) under $TMPDIR, named after the running
// Catch test. Removed on destruction unless HERDGUARD_IT_KEEP_TMP is set (for post-mortems).
class temp_dir {
  public:
    temp_dir();
    ~temp_dir();
    temp_dir(const temp_dir&) = delete;
    temp_dir& operator=(const temp_dir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path file(std::string_view name) const { return path_ / name; }

  private:
    std::filesystem::path path_;
};

// Last `max_bytes` of a file, for failure messages.
std::string file_tail(const std::filesystem::path& file, std::size_t max_bytes = 4000);

// A child process with stdout+stderr appended to `log_file` and stdin from /dev/null.
// The constructor throws harness_error when exec fails (reported through a CLOEXEC pipe).
class process {
  public:
    process(std::vector<std::string> argv, std::filesystem::path log_file);
    ~process();  // stop()
    process(const process&) = delete;
    process& operator=(const process&) = delete;

    pid_t pid() const { return pid_; }
    // Reaps the child if it has exited; false once it has.
    bool running();
    // SIGTERM, poll for exit up to `grace`, then SIGKILL; always reaps. Returns the wait status
    // (or the earlier one when the child had already exited); no-op after the first call.
    int stop(milliseconds grace = 3s);
    // SIGKILL and reap: "the process crashed".
    void kill9();
    // Wait status once reaped.
    std::optional<int> wait_status() const { return status_; }
    const std::filesystem::path& log_path() const { return log_; }
    std::string log_tail(std::size_t max_bytes = 4000) const { return file_tail(log_, max_bytes); }
    std::string describe_exit() const;

  private:
    pid_t pid_ = -1;
    std::optional<int> status_;
    std::filesystem::path log_;
    std::string name_;
};

// redis-server on a free port, persistence off, its dir inside the temp dir. With a `password`
// it runs with --requirepass and the readiness probe authenticates first.
class redis_server {
  public:
    explicit redis_server(const temp_dir& dir, std::string password = {});
    // The same, with `extra_args` appended after the standard flags (later flags win in
    // redis-server, so {"--appendonly", "yes"} turns persistence on); restart() keeps them, and
    // the port and therefore the data dir.
    redis_server(const temp_dir& dir, std::string password, std::vector<std::string> extra_args);
    // On this port (throws if it cannot start there): a cluster node needs port + 10000 free too.
    redis_server(const temp_dir& dir, std::string password, std::vector<std::string> extra_args, std::uint16_t port);
    std::uint16_t port() const { return port_; }
    const std::string& password() const { return password_; }
    bool running() { return proc_ && proc_->running(); }
    void stop();
    void kill9();
    // Starts again on the same port (after stop/kill9) and waits until it answers PING.
    void restart();
    std::string log_tail() const { return proc_ ? proc_->log_tail() : std::string{}; }
    // --dir: the same across restart() (it is named after the port).
    std::filesystem::path data_dir() const;

  private:
    void start();  // throws with the log tail when it exits or does not answer in time
    const temp_dir& dir_;
    std::string password_;
    std::vector<std::string> extra_args_;
    std::uint16_t port_ = 0;
    int generation_ = 0;
    std::unique_ptr<process> proc_;
};

struct herdguard_options {
    int threads = 2;  // exercises the cross-thread paths on our 2 cores
    std::string log_level = "warn";
    std::vector<std::string> extra_args;  // appended after the standard flags
    std::string config_yaml;  // non-empty: written to the temp dir, passed with --config
    // The --admin flag: "off" (the default), "auto" (a free port, see herdguard_proc::admin_port),
    // any other address as given, or "" for no flag at all (the config file or env decides).
    std::string admin = "off";
    std::string auth_password;  // the proxy requires AUTH: readiness authenticates with this first
};

// The proxy under test: HERDGUARD_BINARY --listen 127.0.0.1:P --redis 127.0.0.1:R --threads N
// (no --redis when R is 0: the config names a cluster instead)
// --log-level warn --admin off [--config FILE] [extra...] (--admin per herdguard_options::admin).
// Waits until it answers PING.
class herdguard_proc {
  public:
    herdguard_proc(const temp_dir& dir, std::uint16_t redis_port, herdguard_options opts = {});
    std::uint16_t port() const { return port_; }
    // The admin HTTP port chosen for admin = "auto"; 0 otherwise.
    std::uint16_t admin_port() const { return admin_port_; }
    // The --config file (empty without one): tests may rewrite it and send SIGHUP.
    const std::filesystem::path& config_path() const { return config_path_; }
    pid_t pid() const { return proc_ ? proc_->pid() : -1; }
    bool running() { return proc_ && proc_->running(); }
    int stop() { return proc_ ? proc_->stop() : 0; }
    void kill9() {
        if (proc_) proc_->kill9();
    }
    // Sends `sig` to the process by PID (no-op once it has been reaped).
    void signal(int sig);
    // Polls for exit every 5 ms up to `within`; true once it has exited (and been reaped).
    bool wait_exit(milliseconds within);
    // Wait status once reaped.
    std::optional<int> wait_status() const { return proc_ ? proc_->wait_status() : std::nullopt; }
    std::string log_tail(std::size_t max_bytes = 4000) const {
        return proc_ ? proc_->log_tail(max_bytes) : std::string{};
    }
    std::string describe_exit() const { return proc_ ? proc_->describe_exit() : "not started"; }

  private:
    std::uint16_t port_ = 0;
    std::uint16_t admin_port_ = 0;
    std::filesystem::path config_path_;
    std::unique_ptr<process> proc_;
};

// A reply tree copied out of hiredis, with its canonical text:
//   status "+OK", error "-ERR ...", integer ":5", bulk "$value", nil "(nil)" (also the null
//   multi-bulk), array "*[a, b, *[c]]"; a transport failure (timeout, EOF) is "!io: <why>"
//   and leaves the client unusable.
struct reply {
    enum class kind { status, error, integer, string, nil, array, io_error };
    kind type = kind::nil;
    std::string str;  // status, error, string, io_error text
    long long integer = 0;
    std::vector<reply> elements;

    std::string canonical() const;
    bool is_error() const { return type == kind::error; }
};

// Thin RAII hiredis client (blocking, 2 s read/write timeout by default).
class client {
  public:
    explicit client(std::uint16_t port, milliseconds timeout = 2s);
    ~client();
    client(client&& other) noexcept;
    client& operator=(client&&) = delete;
    client(const client&) = delete;

    // One command, canonical reply text.
    std::string cmd(const std::vector<std::string>& argv) { return cmd_reply(argv).canonical(); }
    reply cmd_reply(const std::vector<std::string>& argv);

    // Pipelining: queue without sending; flush() writes everything queued; get_reply() flushes
    // and reads the next reply (also how pub/sub messages and blocked replies are received).
    void append(const std::vector<std::string>& argv);
    bool flush();  // false on a write error
    std::string get_reply() { return get_reply_tree().canonical(); }
    reply get_reply_tree();
    std::vector<std::string> pipeline(const std::vector<std::vector<std::string>>& commands);

    void set_timeout(milliseconds timeout);
    // False after a transport error (hiredis contexts do not recover from one).
    bool ok() const;
    std::string error_text() const;

  private:
    redisContext* ctx_ = nullptr;
};

// The shape of one RESP reply at the front of `buf`: its length in bytes, or nullopt if incomplete.
std::optional<std::size_t> resp_reply_length(std::string_view buf);

// A plain blocking TCP socket (SO_RCVTIMEO) for raw bytes: garbage, inline commands, split writes.
class raw_conn {
  public:
    explicit raw_conn(std::uint16_t port, milliseconds receive_timeout = 2s);
    ~raw_conn();
    raw_conn(const raw_conn&) = delete;
    raw_conn& operator=(const raw_conn&) = delete;

    // Sends all bytes (MSG_NOSIGNAL); false when the peer has gone away.
    bool send(std::string_view bytes);
    // The same, bounded: waits for send-buffer space at most until `within` has passed. Returns
    // 0 when every byte went out, ETIMEDOUT when time ran out, else the errno of the failed send
    // (EPIPE, ECONNRESET: the peer has gone away). `sent` (optional) gets the bytes accepted.
    int send_within(std::string_view bytes, milliseconds within, std::size_t* sent = nullptr);
    // Reads until one complete RESP reply is buffered and returns its bytes; "" on timeout or EOF
    // (what was buffered stays buffered; see pending()).
    std::string read_reply(milliseconds within = 2s);
    // One command (RESP-encoded), then its reply's exact bytes ("" on timeout).
    std::string ask(const std::vector<std::string>& argv, milliseconds within = 5s);
    // Reads until the peer closes (EOF or reset) or `within` passes; true if it closed. Bytes
    // received meanwhile are kept in pending().
    bool wait_closed(milliseconds within = 2s);
    const std::string& pending() const { return buf_; }
    bool peer_closed() const { return closed_; }

  private:
    // One recv into buf_; false on timeout/EOF/error (sets closed_ on EOF/reset).
    bool fill();
    int fd_ = -1;
    std::string buf_;
    bool closed_ = false;
};

// Runs a command line with a deadline, feeding `input` to stdin, capturing stdout and stderr.
struct command_result {
    int exit_code = -1;  // -1 when killed by a signal or on timeout
    bool timed_out = false;
    std::string out;
    std::string err;
};
command_result run_command(const std::vector<std::string>& argv, milliseconds timeout,
                           const std::string& input = {});

// The usual stack for one test case: temp dir, redis-server, herdguard in front of it.
struct proxy_stack {
    explicit proxy_stack(herdguard_options opts = {});
    temp_dir dir;
    redis_server redis;
    herdguard_proc proxy;

    client proxy_client(milliseconds timeout = 2s) { return client(proxy.port(), timeout); }
    client direct_client(milliseconds timeout = 2s) { return client(redis.port(), timeout); }
};

// ---------------------------------------------------------------------------------------------
// Read-through routes: the scriptable demo upstream, one-route configs, INFO herdguard counters,
// and crowds of concurrent clients.

// A tiny blocking HTTP/1.1 GET over a raw socket ("Connection: close", read to EOF), bounded by
// `timeout` as a whole. Throws harness_error on connect failure, timeout or a malformed answer.
struct http_response {
    int status = 0;
    std::string body;
};
http_response http_get(std::uint16_t port, const std::string& target, milliseconds timeout = 2s);

// GET /_stats of the demo upstream: "total N" then "<count> <path>" per path (path = request
// target as received, query included).
struct upstream_stats {
    std::uint64_t total = 0;
    std::map<std::string, std::uint64_t> paths;
    std::string text;  // the raw body, for failure messages
    std::uint64_t count(const std::string& path) const;
};

// HERDGUARD_DEMO_UPSTREAM on a free port (--latency-ms, --status at start; /_control later).
// Ready once GET /_stats answers; stopped by PID like every other process here.
class demo_upstream {
  public:
    explicit demo_upstream(const temp_dir& dir, long latency_ms = 0, unsigned status = 200);
    std::uint16_t port() const { return port_; }
    // "http://127.0.0.1:PORT" + path_template, for a route's upstream field.
    std::string url(std::string_view path_template = "/products/{1}") const;

    upstream_stats stats();
    std::uint64_t total() { return stats().total; }
    std::uint64_t count(const std::string& path) { return stats().count(path); }
    void reset();  // GET /_reset: zeroes the counts (also the "#n" the values carry)
    // GET /_control?<query>, e.g. control("latency_ms=100&hang=0"). Throws unless it answers ok.
    void control(const std::string& query);

    bool running() { return proc_ && proc_->running(); }
    void stop() {
        if (proc_) proc_->stop();
    }
    std::string log_tail(std::size_t max_bytes = 4000) const {
        return proc_ ? proc_->log_tail(max_bytes) : std::string{};
    }

  private:
    std::uint16_t port_ = 0;
    std::unique_ptr<process> proc_;
};

// One route of a herdguard config. Every field starts at herdguard's built-in default (see
// config/herdguard.yaml), so a test spells out only what it changes.
struct breaker_options {
    milliseconds window = 10s;
    int min_calls = 5;
    double failure_rate = 0.5;
    milliseconds open_for = 5s;
    int half_open_probes = 1;
};

struct route_options {
    std::string name = "products";
    std::string match = "product:*";
    std::string upstream;  // empty: herd_stack fills in its demo upstream's url()
    milliseconds ttl = 60s;
    double ttl_jitter = 0.2;
    milliseconds stale_for = 30s;
    milliseconds stale_if_error = 300s;
    milliseconds negative_ttl = 5s;
    milliseconds error_ttl = 1s;
    milliseconds lock_ttl = 5s;
    milliseconds load_timeout = 2s;
    milliseconds wait_timeout = 3s;
    std::uint64_t max_waiters = 10000;
    std::uint64_t max_concurrent_loads = 64;
    std::uint64_t max_value_bytes = 64ull << 20;
    bool protect = true;
    double early_refresh_beta = 0;  // > 0: early_refresh: {beta: ...}
    std::string l1;                 // non-empty: "l1: <this>", a YAML flow mapping
    breaker_options breaker;
};

// A complete herdguard YAML config with this one route: admin "off", redis.address the test's
// redis-server (durations are written in ms).
std::string herdguard_config(std::uint16_t redis_port, const route_options& route);

// "key:value" lines of an INFO reply ('#' headers and blank lines skipped).
std::map<std::string, std::string> info_fields(std::string_view info_text);
// INFO herdguard through the proxy on `proxy_port` (a fresh connection): the value of
// route_<route>_<name>. Throws harness_error if the field is missing.
std::string route_info(std::uint16_t proxy_port, std::string_view name,
                       std::string_view route = "products");
// The same, as a number (counters, waiters_now, loads_in_flight, breaker_trips).
long long route_counter(std::uint16_t proxy_port, std::string_view name,
                        std::string_view route = "products");

// The usual stack for read-through tests: temp dir, redis-server, the demo upstream, and
// `instances` herdguards with one route (its upstream pointing at the demo upstream), all on the
// same Redis.
struct herd_stack {
    explicit herd_stack(route_options route, std::size_t instances = 1, int threads = 2);
    temp_dir dir;
    redis_server redis;
    demo_upstream upstream;
    route_options route;
    std::vector<std::unique_ptr<herdguard_proc>> proxies;

    herdguard_proc& proxy(std::size_t i = 0) { return *proxies.at(i); }
    std::vector<std::uint16_t> proxy_ports() const;
    client proxy_client(std::size_t i = 0, milliseconds timeout = 2s) {
        return client(proxy(i).port(), timeout);
    }
    client direct_client(milliseconds timeout = 2s) { return client(redis.port(), timeout); }
    // Sum of one counter over every instance that is still running.
    long long counter_sum(std::string_view name);
    // Log tails of every process, for failure messages.
    std::string logs();
};

// Raises RLIMIT_NOFILE's soft limit to at least `wanted` (capped at the hard limit); children
// started afterwards inherit it. Throws harness_error if the hard limit is below `wanted`.
void raise_fd_limit(std::size_t wanted);
// RLIMIT_NOFILE's hard limit (SIZE_MAX when unlimited).
std::size_t fd_hard_limit();

// VmRSS of a running process in bytes, from /proc/PID/status. Throws harness_error when it
// cannot be read (the process has gone).
std::size_t process_rss_bytes(pid_t pid);

// INFO herdguard through the proxy on `proxy_port` (a fresh connection, which counts itself in
// connected_clients): a process-wide field such as clients_rejected or connected_clients, as a
// number. The overload asks on an existing connection. Throws harness_error if it is missing.
long long herdguard_counter(std::uint16_t proxy_port, std::string_view name);
long long herdguard_counter(client& c, std::string_view name);

// RESP multibulk encoding of one command (exact bytes: any argument may hold CR, LF or NUL).
std::string encode_command(const std::vector<std::string>& argv);
// Parses one complete RESP reply (as resp_reply_length() delimits it) into a reply tree.
reply parse_reply(std::string_view bytes);

// Many concurrent clients driven by the calling thread: one non-blocking socket each, multiplexed
// with poll(), so 1000 clients cost 1000 fds, not 1000 threads (and Catch assertions stay on the
// test thread). Clients are spread round-robin over `ports`; the constructor connects them all
// and has each answer a PING, so every session exists in the proxy before a test sends its
// command and the sends below really are concurrent.
struct crowd_reply {
    bool answered = false;
    std::string text;         // canonical reply text (see reply::canonical), or why there is none
    milliseconds latency{0};  // from this client's send to its complete reply
};

class crowd {
  public:
    crowd(const std::vector<std::uint16_t>& ports, std::size_t clients,
          milliseconds ready_within = 10s);
    ~crowd();
    crowd(const crowd&) = delete;
    crowd& operator=(const crowd&) = delete;

    std::size_t size() const { return members_.size(); }
    std::uint16_t port_of(std::size_t i) const { return members_.at(i).port; }

    // Queues a command on client i (or on all), `copies` times pipelined, and writes as much as
    // the socket takes now.
    void send(std::size_t i, const std::vector<std::string>& argv, std::size_t copies = 1);
    void send_all(const std::vector<std::string>& argv, std::size_t copies = 1);
    // Hangs up client i (mid-wait, say): its reply is never read.
    void close(std::size_t i);
    // Waits until every client with commands outstanding has their replies, or `within` passes.
    // Returns one entry per command sent, client by client (closed and idle clients: one entry,
    // answered == false).
    std::vector<crowd_reply> collect(milliseconds within);
    std::vector<crowd_reply> request_all(const std::vector<std::string>& argv,
                                         milliseconds within, std::size_t copies = 1) {
        send_all(argv, copies);
        return collect(within);
    }

  private:
    struct member {
        int fd = -1;
        std::uint16_t port = 0;
        std::string out;
        std::string in;
        std::chrono::steady_clock::time_point sent_at;
        bool waiting = false;
        std::size_t pending = 0;             // replies still expected
        std::vector<crowd_reply> results;  // in order
    };
    void write_some(member& m);
    void read_some(member& m);
    static void fail(member& m, const std::string& why);
    std::vector<member> members_;
};

// "count x reply" lines for a crowd's replies, most frequent first (at most 20 distinct), for
// failure messages.
std::string summarize(const std::vector<crowd_reply>& replies);

// Polls `pred` every `step` until it is true or `within` passes; returns the last result.
template <typename Pred>
bool eventually(Pred pred, milliseconds within, milliseconds step = 20ms);

}  // namespace herdguard::test

#include <thread>

template <typename Pred>
bool herdguard::test::eventually(Pred pred, milliseconds within, milliseconds step) {
    const auto deadline = std::chrono::steady_clock::now() + within;
    for (;;) {
        if (pred()) return true;
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(step);
    }
}
