// Faults and abuse: hostile or broken clients (absurd claimed lengths, a client that never reads
// its replies, too many clients, idle and trickling clients, 10,000 idle connections, a flood of
// waiters on one key) and a Redis that dies under load and comes back. Real redis-server, real
// herdguard processes (stopped and killed by PID) and the scriptable demo upstream.
//
// Memory is judged by the proxy's VmRSS (/proc/PID/status), sampled every few ms by a thread
// while a test runs, so a transient allocation shows up even if it is freed again.
//
// Waiting: every wait is bounded (socket polls with deadlines, `eventually`, crowd collects).
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

using steady = std::chrono::steady_clock;

constexpr std::size_t kib = 1024;
constexpr std::size_t mib = 1024 * 1024;

long long ms_since(steady::time_point t0) {
    return std::chrono::duration_cast<milliseconds>(steady::now() - t0).count();
}

std::string mb_text(std::size_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(bytes) / mib);
    return buf;
}

std::string printable(std::string_view s, std::size_t max_len = 200) {
    std::string out;
    for (unsigned char c : s.substr(0, max_len)) {
        if (c == '\r')
            out += "\\r";
        else if (c == '\n')
            out += "\\n";
        else if (c >= 0x20 && c < 0x7f)
            out.push_back(static_cast<char>(c));
        else
            out += "\\x" + std::to_string(c);
    }
    if (s.size() > max_len) out += "...(" + std::to_string(s.size()) + " bytes)";
    return out;
}

bool starts_with(std::string_view s, std::string_view prefix) {
    return s.substr(0, prefix.size()) == prefix;
}

std::size_t count_of(const std::vector<crowd_reply>& replies, const std::string& text) {
    return static_cast<std::size_t>(std::count_if(
        replies.begin(), replies.end(), [&](const crowd_reply& r) { return r.text == text; }));
}

long long slowest(const std::vector<crowd_reply>& replies, const std::string& text) {
    long long worst = 0;
    for (const auto& r : replies)
        if (r.text == text) worst = std::max<long long>(worst, r.latency.count());
    return worst;
}

// A bound on the proxy's memory holds for a plain build only: ASan's shadow memory and its
// quarantine of freed blocks (256 MB by default) and TSan's shadow inflate RSS by design. Under a
// sanitizer the figure is still printed and recorded, and the sanitizer checks the memory itself.
#define CHECK_MEMORY_BOUND(expr)                                                    \
    do {                                                                            \
        if (sanitizer().empty())                                                    \
            CHECK(expr);                                                            \
        else                                                                        \
            WARN("under " << sanitizer() << ", not asserted: " #expr);              \
    } while (false)

// Samples a process's VmRSS every `every` on its own thread and keeps the peak. The baseline is
// taken in the constructor.
class rss_sampler {
  public:
    explicit rss_sampler(pid_t pid, milliseconds every = 5ms)
        : pid_(pid), base_(process_rss_bytes(pid)), peak_(base_) {
        thread_ = std::thread([this, every] {
            while (!stop_) {
                try {
                    const std::size_t now = process_rss_bytes(pid_);
                    if (now > peak_.load()) peak_ = now;
                } catch (const harness_error&) {
                    gone_ = true;
                    return;
                }
                std::this_thread::sleep_for(every);
            }
        });
    }
    ~rss_sampler() { stop(); }
    rss_sampler(const rss_sampler&) = delete;
    rss_sampler& operator=(const rss_sampler&) = delete;

    void stop() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::size_t base() const { return base_; }
    std::size_t peak() const { return peak_; }
    std::size_t growth() const { return peak_ > base_ ? peak_ - base_ : 0; }
    bool process_gone() const { return gone_; }
    std::string describe() const {
        return "VmRSS base " + mb_text(base_) + ", peak " + mb_text(peak_) + " (+" +
               mb_text(growth()) + ")" + (gone_ ? ", process gone" : "");
    }

  private:
    pid_t pid_;
    std::size_t base_;
    std::atomic<std::size_t> peak_;
    std::atomic<bool> stop_{false};
    std::atomic<bool> gone_{false};
    std::thread thread_;
};

// A proxy config with only a limits: block (redis address and admin come from the flags).
herdguard_options with_limits(const std::string& limits_body) {
    herdguard_options opts;
    opts.config_yaml = "limits:\n" + limits_body;
    return opts;
}

// Fails the test with the proxy's log tail if it died.
void require_running(herdguard_proc& proxy) {
    INFO("herdguard log tail:\n" << proxy.log_tail());
    INFO(proxy.describe_exit());
    REQUIRE(proxy.running());
}

// Writes `text` (one line) to a file in the test's temp dir, for post-mortems
// (HERDGUARD_IT_KEEP_TMP=1 keeps the dir).
void record(const temp_dir& dir, const std::string& file, const std::string& text) {
    std::ofstream(dir.file(file)) << text << "\n";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// 1. Absurd claimed sizes get Redis's protocol error and a closed connection; nothing claimed is
// allocated, and other clients are not disturbed.
TEST_CASE("protocol limits: absurd lengths get the error and a close, nothing is allocated",
          "[integration][faults]") {
    proxy_stack stack;  // default limits: 512mb bulk, 1M elements, 64kb inline
    herdguard_proc small(stack.dir, stack.redis.port(),
                         with_limits("  max_array_length: 1000\n"));  // same Redis
    auto bystander = stack.proxy_client();
    REQUIRE(bystander.cmd({"SET", "by", "0"}) == "+OK");

    rss_sampler rss(stack.proxy.pid());
    rss_sampler small_rss(small.pid());
    int round = 0;
    auto bystander_ok = [&] {
        const auto value = std::to_string(++round);
        CHECK(bystander.cmd({"SET", "by", value}) == "+OK");
        CHECK(bystander.cmd({"GET", "by"}) == "$" + value);
    };

    struct limit_case {
        std::string name;
        std::string bytes;
        std::string expected;
    };
    const std::string inline_max = std::string(70 * kib, '1');  // > max_inline_bytes (64 KB)
    const std::vector<limit_case> cases{
        {"bulk length 2^40", "*1\r\n$1099511627776\r\n",
         "-ERR Protocol error: invalid bulk length\r\n"},
        {"negative bulk length", "*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
        {"bulk length past int64", "*1\r\n$99999999999999999999999\r\n",
         "-ERR Protocol error: invalid bulk length\r\n"},
        {"multibulk length 2^62", "*4611686018427387904\r\n",
         "-ERR Protocol error: invalid multibulk length\r\n"},
        {"70 KB multibulk count without CRLF", "*" + inline_max,
         "-ERR Protocol error: too big mbulk count string\r\n"},
        {"70 KB bulk count without CRLF", "*1\r\n$" + inline_max,
         "-ERR Protocol error: too big bulk count string\r\n"},
    };
    for (const auto& lc : cases) {
        INFO("case: " << lc.name);
        for (auto port : {stack.redis.port(), stack.proxy.port()}) {
            // The first pass is the premise: this is what Redis itself answers.
            INFO((port == stack.redis.port() ? "redis-server directly" : "through herdguard"));
            raw_conn conn(port);
            // The peer may close while the 70 KB cases are still being sent: that is fine.
            const int err = conn.send_within(lc.bytes, 2s);
            INFO("send: " << (err ? std::strerror(err) : "complete"));
            auto got = conn.read_reply();
            INFO("reply: " << printable(got) << " (pending: " << printable(conn.pending()) << ")");
            CHECK(got == lc.expected);
            CHECK(conn.wait_closed(2s));
        }
        bystander_ok();
    }

    {  // 1M elements announced (the default limit), none sent: the connection waits, cheaply.
        INFO("case: *1000000 then garbage");
        raw_conn conn(stack.proxy.port());
        REQUIRE(conn.send("*1000000\r\n"));
        CHECK(conn.read_reply(300ms).empty());
        CHECK_FALSE(conn.peer_closed());
        bystander_ok();
        REQUIRE(conn.send("$x\r\n"));
        CHECK(conn.read_reply() == "-ERR Protocol error: invalid bulk length\r\n");
        CHECK(conn.wait_closed(2s));
    }
    {  // The same against Redis (premise for the reply above).
        raw_conn conn(stack.redis.port());
        REQUIRE(conn.send("*1000000\r\n"));
        CHECK(conn.read_reply(100ms).empty());
        REQUIRE(conn.send("$x\r\n"));
        CHECK(conn.read_reply() == "-ERR Protocol error: invalid bulk length\r\n");
        CHECK(conn.wait_closed(2s));
    }
    {  // A 10 MB inline request without a newline, in 64 KB chunks: refused after 64 KB.
        INFO("case: 10 MB inline request");
        raw_conn conn(stack.proxy.port());
        const std::string chunk(64 * kib, 'a');
        std::size_t accepted = 0;
        int err = 0;
        std::string got;
        const auto t0 = steady::now();
        while (accepted < 10 * mib && ms_since(t0) < 10'000) {
            std::size_t sent = 0;
            err = conn.send_within(chunk, 2s, &sent);
            accepted += sent;
            if (err) break;
            if (got.empty()) got = conn.read_reply(0ms);
        }
        if (got.empty()) got = conn.read_reply();
        WARN("10 MB inline request: the proxy took "
             << accepted << " bytes before the send failed ("
             << (err ? std::strerror(err) : "no error") << "); reply: " << printable(got));
        CHECK(got == "-ERR Protocol error: too big inline request\r\n");
        CHECK(conn.wait_closed(2s));
        // The kernel buffers take a few MB before the close is noticed; not all 10 MB.
        CHECK(accepted < 10 * mib);
        bystander_ok();
    }
    {  // limits.max_array_length 1000: one more is refused at the header, 1000 is accepted.
        raw_conn over(small.port());
        REQUIRE(over.send("*1001\r\n"));
        CHECK(over.read_reply() == "-ERR Protocol error: invalid multibulk length\r\n");
        CHECK(over.wait_closed(2s));
        raw_conn at_limit(small.port());
        REQUIRE(at_limit.send("*1000\r\n"));
        CHECK(at_limit.read_reply(200ms).empty());
        CHECK_FALSE(at_limit.peer_closed());
        client c(small.port());
        CHECK(c.cmd({"GET", "by"}) == "$" + std::to_string(round));
    }

    rss.stop();
    small_rss.stop();
    INFO("default proxy: " << rss.describe()
                           << "; max_array_length 1000 proxy: " << small_rss.describe());
    CHECK_MEMORY_BOUND(rss.growth() < 64 * mib);
    CHECK_MEMORY_BOUND(small_rss.growth() < 64 * mib);
    CHECK(herdguard_counter(stack.proxy.port(), "protocol_errors") >=
          static_cast<long long>(cases.size() + 2));
    bystander_ok();
    require_running(stack.proxy);
    require_running(small);
}

// A bulk length within max_request_bytes is a promise, not data: the proxy should not commit
// that much memory before the bytes arrive (Redis reserves such a buffer with malloc, which costs
// no RSS until written). Many connections each announcing 512 MB would otherwise exhaust memory.
// Known failure at the time of writing: session::do_read() resizes its std::vector<char> read
// buffer to parser_.bytes_needed(), and resize() zero-fills, so each such connection costs
// +512 MB of RSS (Redis 7.0 under the same bytes: +0.2 MB).
TEST_CASE("protocol limits: a claimed bulk within max_request_bytes is not allocated up front",
          "[integration][faults]") {
    proxy_stack stack;  // max_request_bytes 512mb
    rss_sampler rss(stack.proxy.pid());
    raw_conn conn(stack.proxy.port());
    // 512 MB - 912 bytes: accepted by the limit, so the proxy waits for the body.
    REQUIRE(conn.send("*1\r\n$536870000\r\n"));
    CHECK(conn.read_reply(300ms).empty());
    CHECK_FALSE(conn.peer_closed());
    std::this_thread::sleep_for(200ms);  // let the sampler see whatever the read did
    rss.stop();
    WARN("one connection announcing a 512 MB bulk: proxy " << rss.describe());
    record(stack.dir, "claimed_bulk_rss.txt", rss.describe());
    CHECK_MEMORY_BOUND(rss.growth() < 64 * mib);
    CHECK(stack.proxy_client().cmd({"PING"}) == "+PONG");
    require_running(stack.proxy);
}

// ---------------------------------------------------------------------------------------------
// 2. A client that pipelines and never reads is disconnected at limits.client_output_buffer,
// while one that pipelines as much but reads its replies is served.
TEST_CASE("output buffer: a client that never reads is disconnected, memory stays bounded",
          "[integration][faults]") {
    proxy_stack stack(with_limits("  client_output_buffer: 1mb\n"));
    const auto port = stack.proxy.port();
    auto bystander = stack.proxy_client();
    const std::string big(10 * kib, 'b');
    REQUIRE(bystander.cmd({"SET", "big", big}) == "+OK");
    const std::string one = encode_command({"GET", "big"});
    const std::string big_reply = "$" + std::to_string(big.size()) + "\r\n" + big + "\r\n";
    constexpr std::size_t commands = 20000;  // 200 MB of replies

    rss_sampler rss(stack.proxy.pid());
    long long disconnects_expected = 0;

    {  // A: all 20,000 in one write, never read.
        std::string pipeline;
        pipeline.reserve(one.size() * commands);
        for (std::size_t i = 0; i < commands; ++i) pipeline += one;
        raw_conn hog(port);
        const auto t0 = steady::now();
        std::size_t sent = 0;
        const int err = hog.send_within(pipeline, 10s, &sent);
        const auto send_ms = ms_since(t0);
        CHECK(bystander.cmd({"GET", "by"}) == "(nil)");  // served meanwhile
        // Drain what was delivered before the close; the proxy must have closed.
        const bool closed = hog.wait_closed(10s);
        const auto closed_ms = ms_since(t0);
        // Nothing may reach the client here: the replies of one read's worth of commands (16 KB
        // of GETs, ~7 MB of replies) are gathered before they are written, and pass 1 MB first.
        // Redis gathers a read's replies the same way.
        WARN("output buffer, one write of 20,000 GETs: sent "
             << sent << " bytes in " << send_ms
             << " ms (send: " << (err ? std::strerror(err) : "complete") << "); closed after "
             << closed_ms << " ms; received " << hog.pending().size() << " bytes");
        CHECK(err != ETIMEDOUT);
        CHECK(closed);
        CHECK(hog.pending().size() < commands * big_reply.size());
        ++disconnects_expected;
        CHECK(herdguard_counter(port, "output_buffer_disconnects") >= disconnects_expected);
    }
    {  // B: 20 GETs (200 KB of replies) per write, 1 ms apart, never read: served until the
       // socket buffers are full, then disconnected.
        std::string window;
        for (int i = 0; i < 20; ++i) window += one;
        raw_conn hog(port);
        const auto t0 = steady::now();
        std::size_t sent_total = 0;
        int err = 0;
        while (sent_total < commands * one.size() && ms_since(t0) < 10'000) {
            std::size_t sent = 0;
            err = hog.send_within(window, 2s, &sent);
            sent_total += sent;
            if (err) break;
            std::this_thread::sleep_for(1ms);
        }
        const auto send_ms = ms_since(t0);
        const bool closed = hog.wait_closed(10s);
        const auto closed_ms = ms_since(t0);
        const auto received = hog.pending().size();
        WARN("output buffer, 20 GETs per write, never read: sent "
             << sent_total / one.size() << " GETs in " << send_ms
             << " ms (send: " << (err ? std::strerror(err) : "complete") << "); closed after "
             << closed_ms << " ms; received " << received << " bytes ("
             << received / big_reply.size() << " replies)");
        CHECK(err != ETIMEDOUT);
        CHECK(closed);
        CHECK(received > 0);
        CHECK(received < commands * big_reply.size());
        ++disconnects_expected;
        CHECK(herdguard_counter(port, "output_buffer_disconnects") >= disconnects_expected);
    }
    {  // C: the control. 2,000 GETs, 20 per write, each window's replies read before the next:
       // never more than 200 KB outstanding, so never disconnected.
        raw_conn reader(port, 5s);
        std::string window;
        for (int i = 0; i < 20; ++i) window += one;
        std::size_t good = 0;
        for (int w = 0; w < 100 && !reader.peer_closed(); ++w) {
            if (reader.send_within(window, 2s) != 0) break;
            for (int i = 0; i < 20; ++i)
                if (reader.read_reply() == big_reply) ++good;
        }
        CHECK(good == 2000);
        CHECK_FALSE(reader.peer_closed());
        CHECK(herdguard_counter(port, "output_buffer_disconnects") == disconnects_expected);
    }

    rss.stop();
    WARN("output buffer test: proxy " << rss.describe());
    CHECK_MEMORY_BOUND(rss.growth() < 128 * mib);
    CHECK(bystander.cmd({"SET", "by", "1"}) == "+OK");
    CHECK(bystander.cmd({"GET", "by"}) == "$1");
    // The hogs' sessions are gone once their last Redis replies are in (or timed out).
    CHECK(eventually([&] { return herdguard_counter(bystander, "connected_clients") == 1; }, 3s));
    require_running(stack.proxy);
}

// ---------------------------------------------------------------------------------------------
// 3. limits.max_clients: the one too many gets Redis's error and a close; a freed slot is reused.
TEST_CASE("max_clients: the 21st client is refused, a freed slot admits a new one",
          "[integration][faults]") {
    proxy_stack stack(with_limits("  max_clients: 20\n"));
    const auto port = stack.proxy.port();
    // The readiness probe's connection may still be counted for a moment.
    REQUIRE(eventually([&] { return herdguard_counter(port, "connected_clients") == 1; }, 2s));

    std::vector<client> clients;
    clients.reserve(20);
    for (int i = 0; i < 20; ++i) {
        clients.emplace_back(port);
        INFO("client #" << i);
        REQUIRE(clients.back().cmd({"PING"}) == "+PONG");
    }
    {
        raw_conn extra(port);
        CHECK(extra.read_reply() == "-ERR max number of clients reached\r\n");
        CHECK(extra.wait_closed(2s));
    }
    {  // hiredis sees the same
        client extra(port);
        auto r = extra.cmd({"PING"});
        CHECK((r == "-ERR max number of clients reached" || starts_with(r, "!io:")));
    }
    CHECK(herdguard_counter(clients[0], "clients_rejected") >= 2);
    CHECK(herdguard_counter(clients[0], "connected_clients") == 20);

    clients.pop_back();  // frees one slot once the proxy has seen the hang-up
    std::string last;
    bool admitted = eventually(
        [&] {
            raw_conn c(port);
            if (!c.send("PING\r\n")) return false;
            last = c.read_reply();
            return last == "+PONG\r\n";
        },
        3s, 20ms);
    INFO("last reply: " << printable(last));
    CHECK(admitted);
    for (auto& c : clients) CHECK(c.cmd({"PING"}) == "+PONG");
    require_running(stack.proxy);
}

// ---------------------------------------------------------------------------------------------
// 4. limits.client_timeout is an idle timeout on the connection, as Redis's `timeout`: a client
// that stops sending (mid-command or before any) is closed; one trickling bytes faster than the
// timeout is not idle and stays (so this is not a slowloris defence: that would need a deadline
// per request, which neither Redis nor herdguard has); a client blocked in BLPOP is exempt.
TEST_CASE("client_timeout: idle and half-sent clients are closed, blocked ones are exempt",
          "[integration][faults]") {
    proxy_stack stack(with_limits("  client_timeout: 1s\n"));
    const auto port = stack.proxy.port();
    constexpr auto timeout = 1000ms;

    raw_conn partial(port, 10s);
    raw_conn idle(port, 10s);
    raw_conn trickler(port, 10s);
    client blocked(port, 10s);
    auto direct = stack.direct_client();
    REQUIRE(direct.cmd({"DEL", "faults:q"}) == ":0");

    const auto t0 = steady::now();
    REQUIRE(partial.send("*1\r\n$4\r\nPI"));
    REQUIRE(trickler.send("*1\r\n$4\r\nPI"));
    blocked.append({"BLPOP", "faults:q", "5"});
    REQUIRE(blocked.flush());

    // One byte every 400 ms: "NG\r\n" completes the PING, then a second, inline PING.
    const std::string trickle = "NG\r\nPING\r\n";
    std::size_t trickled = 0;
    long long last_trickle_ms = 0;
    std::vector<std::string> trickle_replies;
    long long partial_closed = -1, idle_closed = -1, trickler_closed = -1;
    bool pushed = false;
    std::string blpop_reply;
    long long blpop_ms = -1;

    while (ms_since(t0) < 7000) {
        const auto now = ms_since(t0);
        if (partial_closed < 0 && partial.wait_closed(0ms)) partial_closed = now;
        if (idle_closed < 0 && idle.wait_closed(0ms)) idle_closed = now;
        if (trickled < trickle.size() && now >= 400 * static_cast<long long>(trickled + 1)) {
            if (!trickler.send(trickle.substr(trickled, 1))) {
                trickler_closed = now;
                break;
            }
            ++trickled;
            last_trickle_ms = now;
        }
        for (auto r = trickler.read_reply(0ms); !r.empty(); r = trickler.read_reply(0ms))
            trickle_replies.push_back(r);
        if (trickler_closed < 0 && trickler.peer_closed()) trickler_closed = now;
        if (!pushed && now >= 2000) {
            REQUIRE(direct.cmd({"LPUSH", "faults:q", "x"}) == ":1");
            pushed = true;
            blpop_reply = blocked.get_reply();
            blpop_ms = ms_since(t0);
        }
        if (partial_closed >= 0 && idle_closed >= 0 && trickler_closed >= 0 && pushed) break;
        std::this_thread::sleep_for(10ms);
    }

    WARN("client_timeout 1s, closed after (ms): partial "
         << partial_closed << ", idle " << idle_closed << ", trickler " << trickler_closed
         << " (last byte at " << last_trickle_ms << " ms); BLPOP reply " << blpop_reply << " at "
         << blpop_ms << " ms");
    // Half a command, then silence: closed after the timeout, within timeout + 1 s, no reply.
    CHECK(partial_closed >= timeout.count() - 50);
    CHECK(partial_closed <= (timeout + 1s).count());
    CHECK(partial.pending().empty());
    // Connected, never a byte: the same.
    CHECK(idle_closed >= timeout.count() - 50);
    CHECK(idle_closed <= (timeout + 1s).count());
    // The trickler is never idle for 1 s: served to the end, closed only once it goes quiet.
    CHECK(trickled == trickle.size());
    CHECK(trickle_replies == std::vector<std::string>{"+PONG\r\n", "+PONG\r\n"});
    CHECK(trickler_closed > last_trickle_ms + timeout.count() - 50);
    CHECK(trickler_closed <= last_trickle_ms + (timeout + 1s).count());
    // Blocked in BLPOP for 2 s (twice the timeout): not closed, gets the pushed element.
    CHECK(blpop_reply == "*[$faults:q, $x]");
    CHECK(blpop_ms < 2500);
    require_running(stack.proxy);
}

// ---------------------------------------------------------------------------------------------
// 5. The memory cost of an idle connection.
TEST_CASE("10,000 idle connections: bytes per connection, all released on close",
          "[integration][faults]") {
    constexpr std::size_t connections = 10000;
    raise_fd_limit(connections + 1024);  // before the proxy starts: it inherits the limit
    // --threads 2; max_clients (default 10,000) leaves room for the INFO connections.
    proxy_stack stack(with_limits("  max_clients: 10100\n"));
    const auto port = stack.proxy.port();
    REQUIRE(stack.proxy_client().cmd({"PING"}) == "+PONG");
    std::this_thread::sleep_for(100ms);
    const std::size_t before = process_rss_bytes(stack.proxy.pid());
    std::size_t after = 0;
    const auto t0 = steady::now();
    {
        crowd idle({port}, connections, 30s);  // connects all, each answers one PING
        const auto connect_ms = ms_since(t0);
        std::this_thread::sleep_for(100ms);
        after = process_rss_bytes(stack.proxy.pid());
        CHECK(herdguard_counter(port, "connected_clients") ==
              static_cast<long long>(connections + 1));
        const std::size_t per = after > before ? (after - before) / connections : 0;
        const std::string figure = "idle connections: " + std::to_string(connections) + ", VmRSS " +
                                   mb_text(before) + " -> " + mb_text(after) + ", " +
                                   std::to_string(per) + " bytes per connection (" +
                                   std::to_string(connect_ms) + " ms to connect and PING)";
        WARN(figure);
        record(stack.dir, "bytes_per_idle_connection.txt", figure);
        CHECK_MEMORY_BOUND(per < 64 * kib);
    }
    // Every session is gone once the proxy has seen the hang-ups (the INFO connection remains).
    long long left = -1;
    CHECK(eventually(
        [&] {
            left = herdguard_counter(port, "connected_clients");
            return left == 1;
        },
        10s, 50ms));
    INFO("connected_clients still " << left);
    CHECK(stack.proxy_client().cmd({"PING"}) == "+PONG");
    require_running(stack.proxy);
}

// ---------------------------------------------------------------------------------------------
// 6. A flood of waiters on one missing key: one upstream request, every waiter answered, and a
// bounded cost per waiter; with a small max_waiters the excess is shed at once.
//
// The issue asks for 50,000 concurrent requests. This machine's RLIMIT_NOFILE hard limit is
// 20,000 (not raisable without CAP_SYS_RESOURCE), and both this process and the proxy hold one fd
// per client, so the test opens as many clients as the limit allows (about 19,000 here; at most
// 20,000) and each pipelines enough GETs that 50,000 or more wait at once: the proxy keeps one
// waiter per request, pipelined or not. It prints the numbers.
namespace {

std::size_t flood_clients() {
    const std::size_t hard = fd_hard_limit();
    return std::min<std::size_t>(20000, hard > 2000 ? hard - 1100 : 0);
}

}  // namespace

TEST_CASE("waiter flood: 50,000 requests on one missing key, one upstream request",
          "[integration][faults]") {
    const std::size_t n = flood_clients();
    REQUIRE(n >= 1000);
    constexpr std::size_t wanted = 50000;
    const std::size_t depth = (wanted + n - 1) / n;  // GETs pipelined per client
    const std::size_t requests = n * depth;
    raise_fd_limit(n + 1024);  // before the proxy starts: it inherits the limit
    route_options route;
    route.max_waiters = requests;
    route.wait_timeout = 10s;
    // The upstream answers after 1.5 s while the worker takes in 56,700 requests; under ASan
    // that takes the worker past the default 2 s load_timeout before it reads the answer. The
    // flood, not the load timeout, is under test here.
    route.load_timeout = 8s;
    // herd_stack's config has no limits: block; the default max_clients (10,000) is too few.
    temp_dir dir;
    redis_server redis(dir);
    demo_upstream upstream(dir, 1500);
    route.upstream = upstream.url();
    herdguard_options opts;  // --threads 2
    opts.config_yaml = herdguard_config(redis.port(), route) + "limits:\n  max_clients: 25000\n";
    herdguard_proc proxy(dir, redis.port(), opts);
    const auto port = proxy.port();
    const auto pid = proxy.pid();

    auto t0 = steady::now();
    crowd clients({port}, n, 60s);
    const auto connect_ms = ms_since(t0);
    client watcher(port);
    std::this_thread::sleep_for(100ms);
    const std::size_t base = process_rss_bytes(pid);

    // While the crowd waits: sample RSS and waiters_now from another thread.
    std::atomic<bool> done{false};
    std::atomic<std::size_t> peak_rss{base};
    std::atomic<long long> peak_waiters{0};
    std::atomic<long long> rss_at_peak_waiters{0};
    std::thread sampler([&] {
        while (!done) {
            try {
                const auto w = herdguard_counter(watcher, "route_products_waiters_now");
                const auto rss_now = process_rss_bytes(pid);
                if (rss_now > peak_rss) peak_rss = rss_now;
                if (w > peak_waiters) {
                    peak_waiters = w;
                    rss_at_peak_waiters = static_cast<long long>(rss_now);
                }
            } catch (const harness_error&) {
                return;
            }
            std::this_thread::sleep_for(20ms);
        }
    });

    t0 = steady::now();
    auto replies = clients.request_all({"GET", "product:flood"}, 20s, depth);
    const auto all_ms = ms_since(t0);
    done = true;
    sampler.join();

    const std::string value = "$value:/products/flood#1";
    auto st = upstream.stats();
    const long long waiters = peak_waiters;
    const std::size_t grown = peak_rss > base ? peak_rss - base : 0;
    const std::size_t per_waiter = waiters > 0 ? grown / static_cast<std::size_t>(waiters) : 0;
    const std::string figure =
        "waiters: " + std::to_string(requests) + " requests from " + std::to_string(n) + " clients (" +
        std::to_string(depth) + " pipelined each; connect+PING " + std::to_string(connect_ms) +
        " ms), peak waiters_now " + std::to_string(waiters) + ", VmRSS " + mb_text(base) +
        " -> peak " + mb_text(peak_rss) + ", " + std::to_string(per_waiter) +
        " bytes per waiter; all answered in " + std::to_string(all_ms) + " ms";
    WARN(figure);
    record(dir, "bytes_per_waiter.txt", figure);

    INFO("replies:\n" << summarize(replies) << "upstream /_stats:\n" << st.text);
    CHECK(replies.size() == requests);
    CHECK(count_of(replies, value) == requests);
    CHECK(st.total == 1);
    CHECK(route_counter(port, "loads_ok") == 1);
    // Nearly all of them waited at the same time (the load takes 1.5 s).
    CHECK(waiters >= static_cast<long long>(wanted));
    CHECK_MEMORY_BOUND(per_waiter < 16 * kib);
    CHECK(eventually([&] { return route_counter(port, "waiters_now") == 0; }, 2s));
    require_running(proxy);
}

TEST_CASE("waiter flood: beyond max_waiters 100 clients get -BUSY at once",
          "[integration][faults]") {
    // 2,000 clients: enough to exceed 100 by far, few enough that the crowd's own send loop
    // and a debug build's processing fit in the 200 ms the shed replies must take.
    constexpr std::size_t n = 2000;
    route_options route;
    route.max_waiters = 100;
    route.wait_timeout = 10s;
    herd_stack stack(route);
    stack.upstream.control("latency_ms=1500");
    const auto port = stack.proxy().port();
    crowd clients({port}, n);

    auto replies = clients.request_all({"GET", "product:flood"}, 5s);
    const std::string value = "$value:/products/flood#1";
    const std::string busy = "-BUSY herdguard: too many waiters for key";
    auto st = stack.upstream.stats();
    INFO("replies:\n" << summarize(replies) << "upstream /_stats:\n" << st.text);
    CHECK(count_of(replies, value) == 100);
    CHECK(count_of(replies, busy) == n - 100);
    WARN("max_waiters 100, " << n << " clients: slowest -BUSY " << slowest(replies, busy)
                             << " ms, slowest value " << slowest(replies, value) << " ms");
    CHECK(slowest(replies, busy) <= 200);
    CHECK(st.total == 1);
    CHECK(route_counter(port, "waiters_rejected") == static_cast<long long>(n - 100));
    CHECK(route_counter(port, "waiters_now") == 0);
    require_running(stack.proxy());
}

// ---------------------------------------------------------------------------------------------
// 7. Redis SIGKILLed under 100 clients and restarted on its port a second later. Redis runs
// with an fsync-always AOF, so whatever it acknowledged survives the kill.
TEST_CASE("Redis killed and restarted under 100 clients: every request answered, nothing lost",
          "[integration][faults]") {
    temp_dir dir;
    redis_server redis(dir, {}, {"--appendonly", "yes", "--appendfsync", "always"});
    demo_upstream upstream(dir);
    route_options route;  // wait_timeout 3s, load_timeout 2s
    route.upstream = upstream.url();
    herdguard_options opts;
    opts.config_yaml = herdguard_config(redis.port(), route);
    herdguard_proc proxy(dir, redis.port(), opts);
    const auto port = proxy.port();

    constexpr auto command_timeout = 1000ms;  // herdguard's default redis.command_timeout
    const auto answer_bound = command_timeout + route.wait_timeout;
    constexpr std::size_t n = 100;
    crowd clients({port}, n);

    // Shared between the driver thread and this one.
    struct acked_set {
        std::string key, value;
        long long at_ms;
    };
    struct round_result {
        long long start_ms, end_ms;
        bool plain_ok;   // every SET +OK, every plain GET a value
        bool routed_ok;  // every routed GET a value
    };
    failure_log failures;
    std::vector<acked_set> acked;  // driver thread only until joined
    std::vector<round_result> rounds;
    std::map<std::string, std::size_t> reply_kinds;
    long long slowest_reply_ms = 0;
    std::atomic<bool> stop{false};
    std::atomic<long long> restarted_ms{-1};
    const auto t0 = steady::now();

    std::thread driver([&] {
        try {
            // Per client: the last key it SET, and whether that SET was acknowledged.
            std::vector<std::string> last_key(n), last_value(n);
            std::vector<bool> last_acked(n, false);
            for (long long r = 0; !stop; ++r) {
                const auto now = ms_since(t0);
                const auto restart = restarted_ms.load();
                if (now > 15'000) {
                    failures.add("driver: still running after 15 s");
                    break;
                }
                if (restart >= 0 && now >= std::max<long long>(4000, restart + 2500)) break;
                std::vector<int> kind(n);
                std::vector<std::string> keys(n), values(n);
                for (std::size_t i = 0; i < n; ++i) {
                    kind[i] = static_cast<int>((i + static_cast<std::size_t>(r)) % 3);
                    if (kind[i] == 0) {
                        keys[i] = "plain:" + std::to_string(i) + ":" + std::to_string(r);
                        values[i] = "v" + std::to_string(i) + "." + std::to_string(r);
                        clients.send(i, {"SET", keys[i], values[i]});
                    } else if (kind[i] == 1) {
                        keys[i] = last_key[i].empty() ? "plain:never" : last_key[i];
                        clients.send(i, {"GET", keys[i]});
                    } else {
                        keys[i] = "product:" + std::to_string(i % 10);
                        clients.send(i, {"GET", keys[i]});
                    }
                }
                const auto start = ms_since(t0);
                auto replies = clients.collect(answer_bound + 1s);
                round_result rr{start, ms_since(t0), true, true};
                for (std::size_t i = 0; i < n; ++i) {
                    const auto& rep = replies[i];
                    const std::string& t = rep.text;
                    const bool herd_error = starts_with(t, "-ERR herdguard:");
                    slowest_reply_ms = std::max<long long>(slowest_reply_ms, rep.latency.count());
                    std::string what;
                    if (!rep.answered) {
                        what = "no answer";
                    } else if (rep.latency > answer_bound) {
                        what = "answered after " + std::to_string(rep.latency.count()) + " ms";
                    } else if (kind[i] == 0) {
                        if (t == "+OK") {
                            acked.push_back({keys[i], values[i], ms_since(t0)});
                            last_acked[i] = true;
                        } else if (!herd_error) {
                            what = "unexpected SET reply";
                        } else {
                            last_acked[i] = false;
                        }
                        if (t != "+OK") rr.plain_ok = false;
                        last_key[i] = keys[i];
                        last_value[i] = values[i];
                    } else if (kind[i] == 1) {
                        const bool right = !last_key[i].empty() && t == "$" + last_value[i];
                        const bool lost = last_acked[i] && t == "(nil)";
                        if (!last_key[i].empty() && !right) rr.plain_ok = false;
                        if (lost)
                            what = "acknowledged write lost";
                        else if (!right && !herd_error && t != "(nil)")
                            what = "unexpected GET reply";
                    } else {
                        const bool value =
                            starts_with(t, "$value:/products/" + std::to_string(i % 10) + "#");
                        if (!value) rr.routed_ok = false;
                        if (!value && !herd_error && t != "(nil)")
                            what = "unexpected routed GET reply";
                    }
                    std::string kind_text = !rep.answered ? "(none)"
                                            : herd_error  ? t.substr(0, t.find('(') + 1) + "...)"
                                            : t[0] == '$' ? std::string("$value")
                                                          : t;
                    ++reply_kinds[std::to_string(kind[i]) + " " + kind_text];
                    if (!what.empty())
                        failures.add("round " + std::to_string(r) + " at " + std::to_string(start) +
                                     " ms, client " + std::to_string(i) + ": " + what + ": " +
                                     keys[i] + " -> " + t);
                }
                rounds.push_back(rr);
                std::this_thread::sleep_for(2ms);
            }
        } catch (const std::exception& e) {
            failures.add(std::string("driver: ") + e.what());
        }
    });

    long long killed_ms = -1;
    bool proxy_alive = true;
    try {
        std::this_thread::sleep_until(t0 + 1s);
        redis.kill9();
        killed_ms = ms_since(t0);
        std::this_thread::sleep_until(t0 + 2s);
        proxy_alive = proxy_alive && proxy.running();
        redis.restart();  // same port, same dir (the AOF); returns once it answers PING
        CHECK(std::filesystem::exists(redis.data_dir() / "appendonlydir"));
        restarted_ms = ms_since(t0);
        // Meanwhile the driver runs on; it stops 2.5 s after the restart (or at 4 s).
        while (ms_since(t0) < 16'000) {
            proxy_alive = proxy_alive && proxy.running();
            if (restarted_ms >= 0 && ms_since(t0) >= std::max<long long>(4000, restarted_ms + 2600))
                break;
            std::this_thread::sleep_for(50ms);
        }
    } catch (...) {
        stop = true;
        driver.join();
        throw;
    }
    stop = true;
    driver.join();

    std::string kinds;
    for (const auto& [k, c] : reply_kinds) kinds += "\n  " + std::to_string(c) + " x " + k;
    INFO("killed at " << killed_ms << " ms, restarted at " << restarted_ms << " ms; "
                      << rounds.size()
                      << " rounds; replies (0 SET, 1 GET, 2 routed GET):" << kinds);
    INFO(failures.summary());
    INFO("herdguard log tail:\n" << proxy.log_tail(3000));
    CHECK(proxy_alive);
    CHECK(failures.count() == 0);
    REQUIRE(restarted_ms >= 0);

    // Back within 2 s of the restart, on the same connections: from some round on, every round
    // is clean. recovered = the end of the first clean round of that tail.
    auto recovered_after = [&](bool round_result::*ok) -> long long {
        long long at = -1;
        for (auto it = rounds.rbegin(); it != rounds.rend() && it->start_ms >= restarted_ms; ++it) {
            if (!((*it).*ok)) break;
            at = it->end_ms;
        }
        return at < 0 ? -1 : at - restarted_ms;
    };
    const auto plain_back = recovered_after(&round_result::plain_ok);
    const auto routed_back = recovered_after(&round_result::routed_ok);
    WARN("redis killed at " << killed_ms << " ms, restarted at " << restarted_ms << " ms ("
                            << rounds.size() << " rounds of 100); SET/GET clean again "
                            << plain_back << " ms after the restart, routed GETs " << routed_back
                            << " ms; slowest reply " << slowest_reply_ms << " ms; " << acked.size()
                            << " acknowledged SETs"
                            << "; replies (0 SET, 1 GET, 2 routed GET):" << kinds);
    CHECK(plain_back >= 0);
    CHECK(plain_back <= 2000);
    CHECK(routed_back >= 0);
    CHECK(routed_back <= 2000);
    // The outage really happened and was seen.
    std::size_t outage_errors = 0;
    for (const auto& [k, c] : reply_kinds)
        if (k.find("-ERR herdguard:") != std::string::npos) outage_errors += c;
    CHECK(outage_errors > 0);

    // Nothing acknowledged is lost: every SET that got +OK, before the kill or after, reads back.
    std::size_t before_kill = 0;
    for (const auto& a : acked)
        if (a.at_ms < killed_ms) ++before_kill;
    INFO(acked.size() << " acknowledged SETs, " << before_kill << " of them before the kill");
    CHECK(before_kill > 0);
    client check(port, 5s);
    std::size_t lost = 0;
    std::vector<std::string> samples;
    for (std::size_t at = 0; at < acked.size(); at += 1000) {
        std::vector<std::vector<std::string>> gets;
        for (std::size_t k = at; k < std::min(acked.size(), at + 1000); ++k)
            gets.push_back({"GET", acked[k].key});
        auto got = check.pipeline(gets);
        for (std::size_t k = 0; k < got.size(); ++k) {
            const auto& a = acked[at + k];
            if (got[k] != "$" + a.value) {
                ++lost;
                if (samples.size() < 5)
                    samples.push_back(a.key + " (acked at " + std::to_string(a.at_ms) + " ms) -> " +
                                      got[k]);
            }
        }
    }
    std::string sample_text;
    for (const auto& s : samples) sample_text += "\n  " + s;
    INFO("lost:" << sample_text);
    CHECK(lost == 0);

    long long waiting = -1;
    CHECK(eventually(
        [&] {
            waiting = route_counter(port, "waiters_now");
            return waiting == 0;
        },
        2s));
    INFO("waiters_now " << waiting);
    require_running(proxy);
}
