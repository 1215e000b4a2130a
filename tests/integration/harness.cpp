#include "harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>
#include <thread>

namespace herdguard::test {

namespace {

using steady = std::chrono::steady_clock;

// The tests write to sockets the peer may have closed (that is what several of them check);
// without this, hiredis's write() would kill the whole test binary with SIGPIPE. Children get
// the default disposition back before exec.
const bool sigpipe_ignored = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
}();

std::string errno_text(const std::string& what) {
    return what + ": " + std::strerror(errno);
}

timeval to_timeval(milliseconds ms) {
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(ms.count() / 1000);
    tv.tv_usec = static_cast<suseconds_t>((ms.count() % 1000) * 1000);
    return tv;
}

int remaining_ms(steady::time_point deadline) {
    auto left = std::chrono::duration_cast<milliseconds>(deadline - steady::now()).count();
    return static_cast<int>(std::max<long long>(0, left));
}

// Runs in the child between fork and exec: only async-signal-safe calls, no allocation (the
// parent is multi-threaded, so a malloc lock may be held by a thread that does not exist here).
[[noreturn]] void exec_child(char* const* argv, int in_fd, int out_fd, int err_fd, pid_t parent,
                             int report_fd) {
    // If the test binary dies (crash, Ctrl-C), take the child with it. Note: the signal fires when
    // the *forking thread* exits, so the harness starts processes from the test's main thread.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(126);  // the parent died before prctl took effect

    dup2(in_fd, 0);
    dup2(out_fd, 1);
    dup2(err_fd, 2);
    // Sockets the tests hold open (hiredis clients, raw conns) must not leak into redis-server or
    // herdguard: a leaked client fd would keep a connection alive after the test closed it.
    if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
        for (int fd = 3; fd < 4096; ++fd) fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);

    execvp(argv[0], argv);
    int e = errno;
    if (report_fd >= 0) {
        [[maybe_unused]] auto n = write(report_fd, &e, sizeof e);
    }
    _exit(127);
}

std::vector<char*> c_argv(std::vector<std::string>& argv) {
    std::vector<char*> out;
    out.reserve(argv.size() + 1);
    for (auto& a : argv) out.push_back(a.data());
    out.push_back(nullptr);
    return out;
}

std::string current_test_name() {
    try {
        return Catch::getResultCapture().getCurrentTestName();
    } catch (...) {
        return "no-test";
    }
}

std::string sanitise(std::string_view s, std::size_t max_len) {
    std::string out;
    for (char c : s) {
        if (out.size() >= max_len) break;
        bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
        out.push_back(keep ? c : '-');
    }
    return out;
}

bool answers_ping(std::uint16_t port, const std::string& password = {}) {
    try {
        client c(port, 250ms);
        if (!password.empty() && c.cmd({"AUTH", password}) != "+OK") return false;
        return c.cmd({"PING"}) == "+PONG";
    } catch (const harness_error&) {
        return false;
    }
}

enum class readiness { ready, exited, timed_out };

// Polls `answers` every 20 ms for at most ~5 s, giving up early if the child exits.
template <typename Probe>
readiness wait_until_answering(process& proc, Probe answers) {
    const auto deadline = steady::now() + 5s;
    for (;;) {
        if (!proc.running()) return readiness::exited;
        if (answers()) return readiness::ready;
        if (steady::now() >= deadline) return readiness::timed_out;
        std::this_thread::sleep_for(20ms);
    }
}

// Polls connect+PING every 20 ms for at most ~5 s, giving up early if the child exits.
readiness wait_until_ready(process& proc, std::uint16_t port, const std::string& password = {}) {
    return wait_until_answering(proc, [port, &password] { return answers_ping(port, password); });
}

bool log_says_port_taken(const process& proc) {
    std::string tail = proc.log_tail(8000);
    std::transform(tail.begin(), tail.end(), tail.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    return tail.find("address already in use") != std::string::npos ||
           tail.find("eaddrinuse") != std::string::npos;
}

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ' ';
        out += s;
    }
    return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
namespace {
std::string env_or(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::string(v) : std::string(fallback);
}
}  // namespace

const std::string& herdguard_binary() {
    static const std::string path = env_or("HG_TEST_HERDGUARD", HERDGUARD_BINARY);
    return path;
}

const std::string& demo_upstream_binary() {
    static const std::string path = env_or("HG_TEST_DEMO_UPSTREAM", HERDGUARD_DEMO_UPSTREAM);
    return path;
}

const std::string& sanitizer() {
    static const std::string name = env_or("HG_TEST_SANITIZER", "");
    return name;
}

std::uint16_t free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) throw harness_error(errno_text("socket"));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
        std::string why = errno_text("bind 127.0.0.1:0");
        ::close(fd);
        throw harness_error(why);
    }
    ::close(fd);
    return ntohs(addr.sin_port);
}

// ---------------------------------------------------------------------------------------------
temp_dir::temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/hg-it-" +
                       sanitise(current_test_name(), 40) + "-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw harness_error(errno_text("mkdtemp " + tmpl));
    path_ = tmpl;
}

temp_dir::~temp_dir() {
    if (std::getenv("HERDGUARD_IT_KEEP_TMP")) {
        std::cerr << "kept " << path_ << '\n';
        return;
    }
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

std::string file_tail(const std::filesystem::path& file, std::size_t max_bytes) {
    std::ifstream in(file, std::ios::binary);
    if (!in) return "(no log at " + file.string() + ")";
    std::stringstream ss;
    ss << in.rdbuf();
    std::string all = ss.str();
    if (all.size() > max_bytes) all = "..." + all.substr(all.size() - max_bytes);
    return all.empty() ? "(empty log " + file.string() + ")" : all;
}

// ---------------------------------------------------------------------------------------------
process::process(std::vector<std::string> argv, std::filesystem::path log_file)
    : log_(std::move(log_file)), name_(argv.empty() ? "?" : argv[0]) {
    if (argv.empty()) throw harness_error("process: empty argv");
    std::string cmdline = join(argv);
    auto cargv = c_argv(argv);

    int log_fd = ::open(log_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (log_fd < 0) throw harness_error(errno_text("open " + log_.string()));
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    int report[2];
    if (null_fd < 0 || ::pipe2(report, O_CLOEXEC) != 0) {
        ::close(log_fd);
        throw harness_error(errno_text("pipe"));
    }
    {
        // The command line heads the log, so a failure message shows what was run.
        std::string head = "$ " + cmdline + "\n";
        [[maybe_unused]] auto n = ::write(log_fd, head.data(), head.size());
    }

    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) exec_child(cargv.data(), null_fd, log_fd, log_fd, parent, report[1]);
    int fork_errno = errno;
    ::close(report[1]);
    ::close(log_fd);
    ::close(null_fd);
    if (pid < 0) {
        ::close(report[0]);
        errno = fork_errno;
        throw harness_error(errno_text("fork"));
    }
    pid_ = pid;

    // The report pipe is CLOEXEC: EOF with no bytes means exec succeeded.
    int exec_errno = 0;
    ssize_t n;
    do {
        n = ::read(report[0], &exec_errno, sizeof exec_errno);
    } while (n < 0 && errno == EINTR);
    ::close(report[0]);
    if (n == static_cast<ssize_t>(sizeof exec_errno)) {
        stop();
        throw harness_error("exec " + cmdline + ": " + std::strerror(exec_errno));
    }
}

process::~process() {
    stop();
}

bool process::running() {
    if (status_) return false;
    int st = 0;
    pid_t r = ::waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
        status_ = st;
        return false;
    }
    return true;
}

int process::stop(milliseconds grace) {
    if (pid_ <= 0) return 0;
    if (!running()) return *status_;
    ::kill(pid_, SIGTERM);
    const auto deadline = steady::now() + grace;
    while (running()) {
        if (steady::now() >= deadline) {
            std::cerr << "harness: " << name_ << " (pid " << pid_ << ") still running "
                      << grace.count() << " ms after SIGTERM; sending SIGKILL\n";
            kill9();
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    return *status_;
}

void process::kill9() {
    if (pid_ <= 0 || !running()) return;
    ::kill(pid_, SIGKILL);
    int st = 0;
    pid_t r;
    do {
        r = ::waitpid(pid_, &st, 0);
    } while (r < 0 && errno == EINTR);
    status_ = st;
}

std::string process::describe_exit() const {
    if (!status_) return name_ + " is running";
    int st = *status_;
    if (WIFEXITED(st)) return name_ + " exited with code " + std::to_string(WEXITSTATUS(st));
    if (WIFSIGNALED(st)) return name_ + " killed by signal " + std::to_string(WTERMSIG(st));
    return name_ + " wait status " + std::to_string(st);
}

// ---------------------------------------------------------------------------------------------
redis_server::redis_server(const temp_dir& dir, std::string password)
    : dir_(dir), password_(std::move(password)) {
    start();
}

redis_server::redis_server(const temp_dir& dir, std::string password,
                           std::vector<std::string> extra_args)
    : dir_(dir), password_(std::move(password)), extra_args_(std::move(extra_args)) {
    start();
}

std::filesystem::path redis_server::data_dir() const {
    return dir_.file("redis-" + std::to_string(port_));
}

void redis_server::start() {
    // Only a fresh start may pick another port; a restart must come back where the proxy expects
    // it.
    const bool fixed_port = port_ != 0;
    for (int attempt = 0;; ++attempt) {
        if (!fixed_port) port_ = free_port();
        auto data_dir = dir_.file("redis-" + std::to_string(port_));
        std::filesystem::create_directories(data_dir);
        auto log = dir_.file("redis-" + std::to_string(port_) + "-" +
                             std::to_string(++generation_) + ".log");
        std::vector<std::string> argv{
            "redis-server",   "--port", std::to_string(port_), "--bind", "127.0.0.1",
            "--save",         "",       "--appendonly",        "no",     "--dir",
            data_dir.string()};
        if (!password_.empty()) {
            argv.push_back("--requirepass");
            argv.push_back(password_);
        }
        argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
        proc_ = std::make_unique<process>(argv, log);
        auto r = wait_until_answering(*proc_, [this] { return answers_ping(port_, password_); });
        if (r == readiness::ready) return;
        if (r == readiness::exited && !fixed_port && attempt < 3 && log_says_port_taken(*proc_))
            continue;
        std::string why = r == readiness::exited ? proc_->describe_exit() : "no PONG within 5 s";
        std::string tail = proc_->log_tail();
        proc_->stop();
        throw harness_error("redis-server on port " + std::to_string(port_) + " did not start (" +
                            why + "); log tail:\n" + tail);
    }
}

void redis_server::stop() {
    if (proc_) proc_->stop();
}

void redis_server::kill9() {
    if (proc_) proc_->kill9();
}

void redis_server::restart() {
    stop();
    start();
}

// ---------------------------------------------------------------------------------------------
herdguard_proc::herdguard_proc(const temp_dir& dir, std::uint16_t redis_port,
                               herdguard_options opts) {
    if (!opts.config_yaml.empty()) {
        config_path_ = dir.file("herdguard.yaml");
        std::ofstream(config_path_) << opts.config_yaml;
    }
    for (int attempt = 0;; ++attempt) {
        port_ = free_port();
        std::vector<std::string> argv{herdguard_binary(),
                                      "--listen",
                                      "127.0.0.1:" + std::to_string(port_),
                                      "--redis",
                                      "127.0.0.1:" + std::to_string(redis_port),
                                      "--threads",
                                      std::to_string(opts.threads),
                                      "--log-level",
                                      opts.log_level};
        if (opts.admin == "auto") {
            // Two free_port() calls in a row may well return the same port.
            do {
                admin_port_ = free_port();
            } while (admin_port_ == port_);
            argv.push_back("--admin");
            argv.push_back("127.0.0.1:" + std::to_string(admin_port_));
        } else if (!opts.admin.empty()) {
            argv.push_back("--admin");
            argv.push_back(opts.admin);
        }
        if (!config_path_.empty()) {
            argv.push_back("--config");
            argv.push_back(config_path_.string());
        }
        argv.insert(argv.end(), opts.extra_args.begin(), opts.extra_args.end());
        proc_ = std::make_unique<process>(argv,
                                          dir.file("herdguard-" + std::to_string(port_) + ".log"));
        auto r = wait_until_ready(*proc_, port_, opts.auth_password);
        if (r == readiness::ready) return;
        if (r == readiness::exited && attempt < 3 && log_says_port_taken(*proc_)) continue;
        std::string why = r == readiness::exited ? proc_->describe_exit() : "no PONG within 5 s";
        std::string tail = proc_->log_tail();
        proc_->stop();
        throw harness_error("herdguard on port " + std::to_string(port_) +
                            " did not become ready (" + why + "); log tail:\n" + tail);
    }
}

void herdguard_proc::signal(int sig) {
    if (proc_ && proc_->running()) ::kill(proc_->pid(), sig);
}

bool herdguard_proc::wait_exit(milliseconds within) {
    return eventually([this] { return !running(); }, within, 5ms);
}

// ---------------------------------------------------------------------------------------------
std::string reply::canonical() const {
    switch (type) {
        case kind::status:
            return "+" + str;
        case kind::error:
            return "-" + str;
        case kind::integer:
            return ":" + std::to_string(integer);
        case kind::string:
            return "$" + str;
        case kind::nil:
            return "(nil)";
        case kind::io_error:
            return "!io: " + str;
        case kind::array: {
            std::string out = "*[";
            for (std::size_t i = 0; i < elements.size(); ++i) {
                if (i) out += ", ";
                out += elements[i].canonical();
            }
            return out + "]";
        }
    }
    return "?";
}

namespace {

reply from_hiredis(const redisReply* r) {
    reply out;
    switch (r->type) {
        case REDIS_REPLY_STATUS:
            out.type = reply::kind::status;
            break;
        case REDIS_REPLY_ERROR:
            out.type = reply::kind::error;
            break;
        case REDIS_REPLY_INTEGER:
            out.type = reply::kind::integer;
            break;
        case REDIS_REPLY_STRING:
            out.type = reply::kind::string;
            break;
        case REDIS_REPLY_NIL:
            out.type = reply::kind::nil;
            break;
        case REDIS_REPLY_ARRAY:
            out.type = reply::kind::array;
            break;
        default:
            out.type = reply::kind::io_error;
            out.str = "unexpected hiredis type " + std::to_string(r->type);
            return out;
    }
    if (r->type == REDIS_REPLY_INTEGER) out.integer = r->integer;
    if (r->str) out.str.assign(r->str, r->len);
    for (std::size_t i = 0; i < r->elements; ++i)
        out.elements.push_back(from_hiredis(r->element[i]));
    return out;
}

reply io_error(redisContext* ctx) {
    reply out;
    out.type = reply::kind::io_error;
    out.str = ctx && ctx->err ? ctx->errstr : "no reply";
    if (out.str.empty()) out.str = "error " + std::to_string(ctx ? ctx->err : -1);
    return out;
}

struct argv_view {
    std::vector<const char*> ptrs;
    std::vector<std::size_t> lens;
    explicit argv_view(const std::vector<std::string>& argv) {
        for (const auto& a : argv) {
            ptrs.push_back(a.data());
            lens.push_back(a.size());
        }
    }
};

}  // namespace

client::client(std::uint16_t port, milliseconds timeout) {
    ctx_ = redisConnectWithTimeout("127.0.0.1", port, to_timeval(timeout));
    if (ctx_ == nullptr || ctx_->err) {
        std::string why = ctx_ ? ctx_->errstr : "out of memory";
        if (ctx_) redisFree(ctx_);
        ctx_ = nullptr;
        throw harness_error("connect 127.0.0.1:" + std::to_string(port) + ": " + why);
    }
    set_timeout(timeout);
}

client::~client() {
    if (ctx_) redisFree(ctx_);
}

client::client(client&& other) noexcept : ctx_(other.ctx_) {
    other.ctx_ = nullptr;
}

void client::set_timeout(milliseconds timeout) {
    redisSetTimeout(ctx_, to_timeval(timeout));
}

bool client::ok() const {
    return ctx_ && ctx_->err == 0;
}

std::string client::error_text() const {
    return ctx_ && ctx_->err ? ctx_->errstr : "";
}

reply client::cmd_reply(const std::vector<std::string>& argv) {
    if (!ok()) return io_error(ctx_);
    argv_view v(argv);
    auto* r = static_cast<redisReply*>(
        redisCommandArgv(ctx_, static_cast<int>(argv.size()), v.ptrs.data(), v.lens.data()));
    if (r == nullptr) return io_error(ctx_);
    reply out = from_hiredis(r);
    freeReplyObject(r);
    return out;
}

void client::append(const std::vector<std::string>& argv) {
    argv_view v(argv);
    redisAppendCommandArgv(ctx_, static_cast<int>(argv.size()), v.ptrs.data(), v.lens.data());
}

bool client::flush() {
    int done = 0;
    while (!done) {
        if (redisBufferWrite(ctx_, &done) != REDIS_OK) return false;
    }
    return true;
}

reply client::get_reply_tree() {
    if (!ok()) return io_error(ctx_);
    void* raw = nullptr;
    if (redisGetReply(ctx_, &raw) != REDIS_OK || raw == nullptr) return io_error(ctx_);
    auto* r = static_cast<redisReply*>(raw);
    reply out = from_hiredis(r);
    freeReplyObject(r);
    return out;
}

std::vector<std::string> client::pipeline(const std::vector<std::vector<std::string>>& commands) {
    for (const auto& c : commands) append(c);
    std::vector<std::string> replies;
    replies.reserve(commands.size());
    for (std::size_t i = 0; i < commands.size(); ++i) replies.push_back(get_reply());
    return replies;
}

// ---------------------------------------------------------------------------------------------
namespace {

// Returns the offset just past the reply starting at `pos`, or nullopt if it is incomplete.
std::optional<std::size_t> reply_end(std::string_view buf, std::size_t pos) {
    if (pos >= buf.size()) return std::nullopt;
    auto crlf = buf.find("\r\n", pos);
    if (crlf == std::string_view::npos) return std::nullopt;
    const char type = buf[pos];
    const std::size_t next = crlf + 2;
    if (type != '$' && type != '*') return next;  // +, -, : and anything line-shaped
    long long n = 0;
    auto [p, ec] = std::from_chars(buf.data() + pos + 1, buf.data() + crlf, n);
    if (ec != std::errc{} || n < 0) return next;  // null bulk / null array, or not a number
    if (type == '$') {
        if (buf.size() < next + static_cast<std::size_t>(n) + 2) return std::nullopt;
        return next + static_cast<std::size_t>(n) + 2;
    }
    std::size_t at = next;
    for (long long i = 0; i < n; ++i) {
        auto end = reply_end(buf, at);
        if (!end) return std::nullopt;
        at = *end;
    }
    return at;
}

}  // namespace

std::optional<std::size_t> resp_reply_length(std::string_view buf) {
    return reply_end(buf, 0);
}

raw_conn::raw_conn(std::uint16_t port, milliseconds receive_timeout) {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) throw harness_error(errno_text("socket"));
    timeval tv = to_timeval(receive_timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // Split-write tests need each send() to leave as its own segment.
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        std::string why = errno_text("connect 127.0.0.1:" + std::to_string(port));
        ::close(fd_);
        throw harness_error(why);
    }
}

raw_conn::~raw_conn() {
    if (fd_ >= 0) ::close(fd_);
}

bool raw_conn::send(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

int raw_conn::send_within(std::string_view bytes, milliseconds within, std::size_t* sent) {
    const auto deadline = steady::now() + within;
    std::size_t done = 0;
    int result = 0;
    while (done < bytes.size()) {
        ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done,
                           MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            done += static_cast<std::size_t>(n);
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            int left = remaining_ms(deadline);
            if (left == 0) {
                result = ETIMEDOUT;
                break;
            }
            pollfd p{fd_, POLLOUT, 0};
            int r = ::poll(&p, 1, left);
            if (r < 0 && errno != EINTR) {
                result = errno;
                break;
            }
            continue;  // writable, an error (the next send reports it), or the deadline check
        }
        result = n < 0 ? errno : EPIPE;
        break;
    }
    if (sent) *sent = done;
    return result;
}

bool raw_conn::fill() {
    char tmp[16384];
    ssize_t n = ::recv(fd_, tmp, sizeof tmp, MSG_DONTWAIT);
    if (n > 0) {
        buf_.append(tmp, static_cast<std::size_t>(n));
        return true;
    }
    if (n == 0 || (errno == ECONNRESET || errno == EPIPE)) closed_ = true;
    return false;
}

std::string raw_conn::read_reply(milliseconds within) {
    const auto deadline = steady::now() + within;
    for (;;) {
        if (auto len = resp_reply_length(buf_)) {
            std::string out = buf_.substr(0, *len);
            buf_.erase(0, *len);
            return out;
        }
        if (closed_) return "";
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r == 0) return "";
        if (r < 0 && errno != EINTR) return "";
        if (r > 0) fill();
    }
}

bool raw_conn::wait_closed(milliseconds within) {
    const auto deadline = steady::now() + within;
    while (!closed_) {
        pollfd p{fd_, POLLIN, 0};
        int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r == 0) return false;
        if (r < 0 && errno != EINTR) return false;
        if (r > 0 && !fill() && !closed_) {
            // POLLIN with nothing to read and no EOF: only POLLERR/POLLHUP-style states do this.
            if (p.revents & (POLLERR | POLLHUP)) closed_ = true;
        }
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
command_result run_command(const std::vector<std::string>& argv_in, milliseconds timeout,
                           const std::string& input) {
    if (argv_in.empty()) throw harness_error("run_command: empty argv");
    std::vector<std::string> argv = argv_in;
    auto cargv = c_argv(argv);
    int in[2];
    int out[2];
    int err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
        throw harness_error(errno_text("pipe"));

    pid_t parent = ::getpid();
    pid_t pid = ::fork();
    if (pid == 0) exec_child(cargv.data(), in[0], out[1], err[1], parent, -1);
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    if (pid < 0) {
        ::close(in[1]);
        ::close(out[0]);
        ::close(err[0]);
        throw harness_error(errno_text("fork"));
    }

    command_result res;
    const auto deadline = steady::now() + timeout;
    int in_fd = in[1];
    ::fcntl(in_fd, F_SETFL, O_NONBLOCK);
    std::size_t written = 0;
    if (input.empty()) {
        ::close(in_fd);
        in_fd = -1;
    }
    int out_fd = out[0];
    int err_fd = err[0];
    // Write stdin and drain both outputs together, so neither side can fill a pipe and stall.
    while (out_fd >= 0 || err_fd >= 0) {
        pollfd fds[3];
        int n = 0;
        int out_i = -1;
        int err_i = -1;
        int in_i = -1;
        if (out_fd >= 0) {
            out_i = n;
            fds[n++] = {out_fd, POLLIN, 0};
        }
        if (err_fd >= 0) {
            err_i = n;
            fds[n++] = {err_fd, POLLIN, 0};
        }
        if (in_fd >= 0) {
            in_i = n;
            fds[n++] = {in_fd, POLLOUT, 0};
        }
        int left = remaining_ms(deadline);
        if (left == 0) {
            res.timed_out = true;
            break;
        }
        int r = ::poll(fds, static_cast<nfds_t>(n), left);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) continue;  // the deadline check above ends the loop
        auto drain = [](int& fd, std::string& sink) {
            char buf[16384];
            ssize_t k = ::read(fd, buf, sizeof buf);
            if (k > 0) {
                sink.append(buf, static_cast<std::size_t>(k));
            } else if (k == 0 || errno != EINTR) {
                ::close(fd);
                fd = -1;
            }
        };
        if (out_i >= 0 && fds[out_i].revents) drain(out_fd, res.out);
        if (err_i >= 0 && fds[err_i].revents) drain(err_fd, res.err);
        if (in_i >= 0 && fds[in_i].revents) {
            ssize_t k = ::write(in_fd, input.data() + written, input.size() - written);
            if (k > 0) written += static_cast<std::size_t>(k);
            if ((k < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
                ::close(in_fd);  // EOF tells the child the input is complete
                in_fd = -1;
            }
        }
    }
    for (int fd : {in_fd, out_fd, err_fd})
        if (fd >= 0) ::close(fd);

    // Outputs are closed; give the child the rest of the deadline to exit, then kill it.
    int st = 0;
    for (;;) {
        pid_t r = ::waitpid(pid, &st, WNOHANG);
        if (r == pid) break;
        if (res.timed_out || steady::now() >= deadline) {
            res.timed_out = true;
            ::kill(pid, SIGKILL);
            while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
            }
            break;
        }
        std::this_thread::sleep_for(5ms);
    }
    res.exit_code = (!res.timed_out && WIFEXITED(st)) ? WEXITSTATUS(st) : -1;
    return res;
}

// ---------------------------------------------------------------------------------------------
proxy_stack::proxy_stack(herdguard_options opts)
    : redis(dir), proxy(dir, redis.port(), std::move(opts)) {}

// ---------------------------------------------------------------------------------------------
namespace {

// A loopback TCP connection; -1 with `why` set on failure.
int connect_loopback(std::uint16_t port, milliseconds io_timeout, std::string& why) {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        why = errno_text("socket");
        return -1;
    }
    timeval tv = to_timeval(io_timeout);
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = htons(port);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        why = errno_text("connect 127.0.0.1:" + std::to_string(port));
        ::close(fd);
        return -1;
    }
    return fd;
}

struct fd_guard {
    int fd;
    ~fd_guard() {
        if (fd >= 0) ::close(fd);
    }
};

std::string ms_text(milliseconds ms) {
    return std::to_string(ms.count()) + "ms";
}

}  // namespace

http_response http_get(std::uint16_t port, const std::string& target, milliseconds timeout) {
    const auto deadline = steady::now() + timeout;
    const std::string what = "HTTP GET 127.0.0.1:" + std::to_string(port) + target;
    std::string why;
    fd_guard sock{connect_loopback(port, timeout, why)};
    if (sock.fd < 0) throw harness_error(what + ": " + why);
    const std::string request = "GET " + target +
                                " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                                "\r\nConnection: close\r\n\r\n";
    std::string_view left = request;
    while (!left.empty()) {
        ssize_t n = ::send(sock.fd, left.data(), left.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) throw harness_error(what + ": " + errno_text("send"));
        left.remove_prefix(static_cast<std::size_t>(n));
    }
    std::string in;
    for (;;) {  // "Connection: close": the response ends at EOF
        pollfd p{sock.fd, POLLIN, 0};
        int r = ::poll(&p, 1, remaining_ms(deadline));
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            throw harness_error(what + ": no complete response within " + ms_text(timeout) +
                                " (got " + std::to_string(in.size()) + " bytes)");
        }
        char buf[16384];
        ssize_t n = ::recv(sock.fd, buf, sizeof buf, 0);
        if (n == 0) break;
        if (n < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;
            if (errno == ECONNRESET && !in.empty()) break;
            throw harness_error(what + ": " + errno_text("recv"));
        }
        in.append(buf, static_cast<std::size_t>(n));
    }
    // "HTTP/1.1 200 OK\r\n" headers "\r\n\r\n" body
    auto head_end = in.find("\r\n\r\n");
    if (in.rfind("HTTP/1.", 0) != 0 || head_end == std::string::npos || in.size() < 12)
        throw harness_error(what + ": malformed response: " + in.substr(0, 200));
    http_response out;
    auto [p, ec] = std::from_chars(in.data() + 9, in.data() + 12, out.status);
    if (ec != std::errc{}) throw harness_error(what + ": bad status line: " + in.substr(0, 200));
    out.body = in.substr(head_end + 4);
    // Honour Content-Length when there is one (the body may not be longer, nor cut short).
    std::string head = in.substr(0, head_end + 2);
    std::transform(head.begin(), head.end(), head.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    if (auto cl = head.find("\r\ncontent-length:"); cl != std::string::npos) {
        std::size_t at = head.find_first_not_of(' ', cl + 17);
        std::size_t len = 0;
        std::from_chars(head.data() + at, head.data() + head.size(), len);
        if (out.body.size() < len)
            throw harness_error(what + ": body cut short (" + std::to_string(out.body.size()) +
                                " of " + std::to_string(len) + " bytes)");
        out.body.resize(len);
    }
    return out;
}

std::uint64_t upstream_stats::count(const std::string& path) const {
    auto it = paths.find(path);
    return it == paths.end() ? 0 : it->second;
}

demo_upstream::demo_upstream(const temp_dir& dir, long latency_ms, unsigned status) {
    for (int attempt = 0;; ++attempt) {
        port_ = free_port();
        proc_ = std::make_unique<process>(
            std::vector<std::string>{
                demo_upstream_binary(), "--listen", "127.0.0.1:" + std::to_string(port_),
                "--latency-ms", std::to_string(latency_ms), "--status", std::to_string(status)},
            dir.file("upstream-" + std::to_string(port_) + ".log"));
        auto r = wait_until_answering(*proc_, [this] {
            try {
                return http_get(port_, "/_stats", 250ms).status == 200;
            } catch (const harness_error&) {
                return false;
            }
        });
        if (r == readiness::ready) return;
        if (r == readiness::exited && attempt < 3 && log_says_port_taken(*proc_)) continue;
        std::string why = r == readiness::exited ? proc_->describe_exit() : "no /_stats within 5 s";
        std::string tail = proc_->log_tail();
        proc_->stop();
        throw harness_error("demo upstream on port " + std::to_string(port_) +
                            " did not become ready (" + why + "); log tail:\n" + tail);
    }
}

std::string demo_upstream::url(std::string_view path_template) const {
    return "http://127.0.0.1:" + std::to_string(port_) + std::string(path_template);
}

upstream_stats demo_upstream::stats() {
    auto res = http_get(port_, "/_stats");
    if (res.status != 200)
        throw harness_error("demo upstream /_stats: HTTP " + std::to_string(res.status));
    upstream_stats out;
    out.text = res.body;
    std::istringstream lines(res.body);
    std::string line;
    bool first = true;
    while (std::getline(lines, line)) {
        if (first) {
            first = false;
            if (line.rfind("total ", 0) != 0)
                throw harness_error("demo upstream /_stats: unexpected first line: " + line);
            out.total = std::stoull(line.substr(6));
            continue;
        }
        auto space = line.find(' ');
        if (space == std::string::npos)
            throw harness_error("demo upstream /_stats: unexpected line: " + line);
        out.paths[line.substr(space + 1)] += std::stoull(line.substr(0, space));
    }
    if (first) throw harness_error("demo upstream /_stats: empty body");
    return out;
}

void demo_upstream::reset() {
    auto res = http_get(port_, "/_reset");
    if (res.status != 200 || res.body != "ok\n")
        throw harness_error("demo upstream /_reset: HTTP " + std::to_string(res.status));
}

void demo_upstream::control(const std::string& query) {
    auto res = http_get(port_, "/_control?" + query);
    if (res.status != 200 || res.body != "ok\n")
        throw harness_error("demo upstream /_control?" + query + ": HTTP " +
                            std::to_string(res.status) + " " + res.body);
}

std::string herdguard_config(std::uint16_t redis_port, const route_options& r) {
    std::ostringstream y;
    y << "# written by the integration harness\n"
      << "admin:\n  listen: \"off\"\n"
      << "redis:\n  address: 127.0.0.1:" << redis_port << "\n"
      << "routes:\n"
      << "  - name: " << r.name << "\n"
      << "    match: \"" << r.match << "\"\n"
      << "    upstream: \"" << r.upstream << "\"\n"
      << "    ttl: " << ms_text(r.ttl) << "\n"
      << "    ttl_jitter: " << r.ttl_jitter << "\n"
      << "    stale_for: " << ms_text(r.stale_for) << "\n"
      << "    stale_if_error: " << ms_text(r.stale_if_error) << "\n"
      << "    negative_ttl: " << ms_text(r.negative_ttl) << "\n"
      << "    error_ttl: " << ms_text(r.error_ttl) << "\n"
      << "    lock_ttl: " << ms_text(r.lock_ttl) << "\n"
      << "    load_timeout: " << ms_text(r.load_timeout) << "\n"
      << "    wait_timeout: " << ms_text(r.wait_timeout) << "\n"
      << "    max_waiters: " << r.max_waiters << "\n"
      << "    max_concurrent_loads: " << r.max_concurrent_loads << "\n"
      << "    max_value_bytes: " << r.max_value_bytes << "\n"
      << "    protect: " << (r.protect ? "true" : "false") << "\n"
      << "    breaker:\n"
      << "      window: " << ms_text(r.breaker.window) << "\n"
      << "      min_calls: " << r.breaker.min_calls << "\n"
      << "      failure_rate: " << r.breaker.failure_rate << "\n"
      << "      open_for: " << ms_text(r.breaker.open_for) << "\n"
      << "      half_open_probes: " << r.breaker.half_open_probes << "\n";
    return y.str();
}

std::map<std::string, std::string> info_fields(std::string_view info_text) {
    std::map<std::string, std::string> out;
    while (!info_text.empty()) {
        auto eol = info_text.find('\n');
        std::string_view line = info_text.substr(0, eol);
        info_text = eol == std::string_view::npos ? std::string_view{} : info_text.substr(eol + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty() || line.front() == '#') continue;
        auto colon = line.find(':');
        if (colon == std::string_view::npos) continue;
        out.emplace(std::string(line.substr(0, colon)), std::string(line.substr(colon + 1)));
    }
    return out;
}

std::string route_info(std::uint16_t proxy_port, std::string_view name, std::string_view route) {
    client c(proxy_port);
    auto r = c.cmd_reply({"INFO", "herdguard"});
    if (r.type != reply::kind::string)
        throw harness_error("INFO herdguard on port " + std::to_string(proxy_port) + ": " +
                            r.canonical());
    const std::string field = "route_" + std::string(route) + "_" + std::string(name);
    auto fields = info_fields(r.str);
    auto it = fields.find(field);
    if (it == fields.end()) throw harness_error("INFO herdguard has no " + field + ":\n" + r.str);
    return it->second;
}

long long route_counter(std::uint16_t proxy_port, std::string_view name, std::string_view route) {
    std::string text = route_info(proxy_port, name, route);
    long long v = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size())
        throw harness_error("INFO herdguard: route_" + std::string(route) + "_" +
                            std::string(name) + " is not a number: " + text);
    return v;
}

namespace {

route_options with_upstream(route_options r, const demo_upstream& up) {
    if (r.upstream.empty()) r.upstream = up.url();
    return r;
}

}  // namespace

herd_stack::herd_stack(route_options route_in, std::size_t instances, int threads)
    : redis(dir), upstream(dir), route(with_upstream(std::move(route_in), upstream)) {
    herdguard_options opts;
    opts.threads = threads;
    opts.config_yaml = herdguard_config(redis.port(), route);
    for (std::size_t i = 0; i < instances; ++i)
        proxies.push_back(std::make_unique<herdguard_proc>(dir, redis.port(), opts));
}

std::vector<std::uint16_t> herd_stack::proxy_ports() const {
    std::vector<std::uint16_t> out;
    for (const auto& p : proxies) out.push_back(p->port());
    return out;
}

long long herd_stack::counter_sum(std::string_view name) {
    long long sum = 0;
    for (auto& p : proxies)
        if (p->running()) sum += route_counter(p->port(), name);
    return sum;
}

std::string herd_stack::logs() {
    std::string out;
    for (std::size_t i = 0; i < proxies.size(); ++i) {
        out += "--- herdguard #" + std::to_string(i) + " (" + proxies[i]->describe_exit() + ")\n";
        out += proxies[i]->log_tail(2000) + "\n";
    }
    out += "--- demo upstream\n" + upstream.log_tail(2000) + "\n";
    return out;
}

// ---------------------------------------------------------------------------------------------
void raise_fd_limit(std::size_t wanted) {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) throw harness_error(errno_text("getrlimit"));
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur >= wanted) return;
    if (lim.rlim_max != RLIM_INFINITY && lim.rlim_max < wanted)
        throw harness_error("RLIMIT_NOFILE hard limit " + std::to_string(lim.rlim_max) +
                            " is below the " + std::to_string(wanted) + " fds this test needs");
    lim.rlim_cur = static_cast<rlim_t>(wanted);
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) throw harness_error(errno_text("setrlimit"));
}

std::size_t fd_hard_limit() {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) throw harness_error(errno_text("getrlimit"));
    return lim.rlim_max == RLIM_INFINITY ? SIZE_MAX : static_cast<std::size_t>(lim.rlim_max);
}

std::size_t process_rss_bytes(pid_t pid) {
    const std::string path = "/proc/" + std::to_string(pid) + "/status";
    std::ifstream in(path);
    std::string line;
    while (in && std::getline(in, line)) {
        if (line.rfind("VmRSS:", 0) != 0) continue;
        std::istringstream fields(line.substr(6));
        std::size_t kb = 0;
        std::string unit;
        if (fields >> kb >> unit && unit == "kB") return kb * 1024;
        throw harness_error(path + ": unexpected line: " + line);
    }
    throw harness_error(path + ": no VmRSS (has the process gone?)");
}

long long herdguard_counter(client& c, std::string_view name) {
    auto r = c.cmd_reply({"INFO", "herdguard"});
    if (r.type != reply::kind::string)
        throw harness_error("INFO herdguard: " + r.canonical());
    auto fields = info_fields(r.str);
    auto it = fields.find(std::string(name));
    if (it == fields.end())
        throw harness_error("INFO herdguard has no " + std::string(name) + ":\n" + r.str);
    long long v = 0;
    const std::string& text = it->second;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || p != text.data() + text.size())
        throw harness_error("INFO herdguard: " + std::string(name) + " is not a number: " + text);
    return v;
}

long long herdguard_counter(std::uint16_t proxy_port, std::string_view name) {
    client c(proxy_port);
    return herdguard_counter(c, name);
}

std::string encode_command(const std::vector<std::string>& argv) {
    std::string out = "*" + std::to_string(argv.size()) + "\r\n";
    for (const auto& a : argv) {
        out += "$" + std::to_string(a.size()) + "\r\n";
        out += a;
        out += "\r\n";
    }
    return out;
}

reply parse_reply(std::string_view bytes) {
    reply out;
    out.type = reply::kind::io_error;
    redisReader* reader = redisReaderCreate();
    void* raw = nullptr;
    if (redisReaderFeed(reader, bytes.data(), bytes.size()) == REDIS_OK &&
        redisReaderGetReply(reader, &raw) == REDIS_OK && raw != nullptr) {
        out = from_hiredis(static_cast<redisReply*>(raw));
        freeReplyObject(raw);
    } else {
        out.str = "unparseable reply: " + std::string(bytes.substr(0, 200));
    }
    redisReaderFree(reader);
    return out;
}

crowd::crowd(const std::vector<std::uint16_t>& ports, std::size_t clients,
             milliseconds ready_within) {
    if (ports.empty()) throw harness_error("crowd: no ports");
    raise_fd_limit(clients + 512);
    members_.resize(clients);
    try {
        for (std::size_t i = 0; i < clients; ++i) {
            auto& m = members_[i];
            m.port = ports[i % ports.size()];
            std::string why;
            m.fd = connect_loopback(m.port, 2s, why);
            if (m.fd < 0) throw harness_error("crowd client #" + std::to_string(i) + ": " + why);
            ::fcntl(m.fd, F_SETFL, ::fcntl(m.fd, F_GETFL) | O_NONBLOCK);
        }
        // Every client answers a PING before the test starts: the proxy has accepted them all.
        auto pongs = request_all({"PING"}, ready_within);
        for (std::size_t i = 0; i < pongs.size(); ++i) {
            if (pongs[i].text != "+PONG")
                throw harness_error("crowd client #" + std::to_string(i) + " (port " +
                                    std::to_string(members_[i].port) +
                                    ") did not answer PING: " + pongs[i].text + "\n" +
                                    summarize(pongs));
        }
    } catch (...) {
        // The destructor does not run for a constructor that throws: close what was opened, or
        // thousands of fds would leak into every later test.
        for (auto& m : members_)
            if (m.fd >= 0) ::close(m.fd);
        throw;
    }
}

crowd::~crowd() {
    for (auto& m : members_)
        if (m.fd >= 0) ::close(m.fd);
}

void crowd::send(std::size_t i, const std::vector<std::string>& argv, std::size_t copies) {
    auto& m = members_.at(i);
    if (m.fd < 0) throw harness_error("crowd: client #" + std::to_string(i) + " is closed");
    const std::string one = encode_command(argv);
    for (std::size_t k = 0; k < copies; ++k) m.out += one;
    m.waiting = copies > 0;
    m.pending = copies;
    m.results.clear();
    m.sent_at = steady::now();
    write_some(m);
}

void crowd::send_all(const std::vector<std::string>& argv, std::size_t copies) {
    for (std::size_t i = 0; i < members_.size(); ++i)
        if (members_[i].fd >= 0) send(i, argv, copies);
}

void crowd::close(std::size_t i) {
    auto& m = members_.at(i);
    if (m.fd >= 0) ::close(m.fd);
    m.fd = -1;
    m.waiting = false;
    m.pending = 0;
    m.results = {{false, "(closed by the test)", milliseconds(0)}};
}

// Every reply still expected ends as `why`.
void crowd::fail(member& m, const std::string& why) {
    for (; m.pending > 0; --m.pending) m.results.push_back({false, why, milliseconds(0)});
    m.waiting = false;
}

void crowd::write_some(member& m) {
    while (!m.out.empty()) {
        ssize_t n = ::send(m.fd, m.out.data(), m.out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n > 0) {
            m.out.erase(0, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // POLLOUT later
        fail(m, "!io: " + errno_text("send"));
        return;
    }
}

void crowd::read_some(member& m) {
    char buf[16384];
    bool ended = false;
    int recv_errno = 0;
    for (;;) {
        ssize_t n = ::recv(m.fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n > 0) {
            m.in.append(buf, static_cast<std::size_t>(n));
            continue;
        }
        if (n < 0 && errno == EINTR) continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) break;
        ended = true;  // EOF or reset: complete replies already buffered still count
        recv_errno = n < 0 ? errno : 0;
        break;
    }
    std::size_t start = 0;
    while (m.pending > 0) {
        auto len = resp_reply_length(std::string_view(m.in).substr(start));
        if (!len) break;
        crowd_reply r;
        r.latency = std::chrono::duration_cast<milliseconds>(steady::now() - m.sent_at);
        r.text = parse_reply(std::string_view(m.in).substr(start, *len)).canonical();
        r.answered = true;
        m.results.push_back(std::move(r));
        start += *len;
        --m.pending;
    }
    m.in.erase(0, start);
    if (m.pending == 0) {
        m.waiting = false;
    } else if (ended) {
        errno = recv_errno;
        fail(m, recv_errno == 0 ? "!io: connection closed by the server" : "!io: " + errno_text("recv"));
    }
}

std::vector<crowd_reply> crowd::collect(milliseconds within) {
    const auto deadline = steady::now() + within;
    std::vector<pollfd> fds;
    std::vector<member*> polled;
    for (;;) {
        fds.clear();
        polled.clear();
        for (auto& m : members_) {
            if (!m.waiting) continue;
            short events = POLLIN;
            if (!m.out.empty()) events |= POLLOUT;
            fds.push_back({m.fd, events, 0});
            polled.push_back(&m);
        }
        if (fds.empty()) break;
        int left = remaining_ms(deadline);
        if (left == 0) break;
        int r = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), left);
        if (r < 0 && errno != EINTR) throw harness_error(errno_text("crowd: poll"));
        if (r <= 0) continue;
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (fds[k].revents == 0) continue;
            member& m = *polled[k];
            if (fds[k].revents & POLLOUT) write_some(m);
            if (m.waiting && (fds[k].revents & (POLLIN | POLLHUP | POLLERR))) read_some(m);
        }
    }
    std::vector<crowd_reply> out;
    out.reserve(members_.size());
    for (auto& m : members_) {
        out.insert(out.end(), m.results.begin(), m.results.end());
        // Still outstanding: report them, keep the socket for a later collect().
        for (std::size_t k = 0; m.waiting && k < m.pending; ++k)
            out.push_back({false, "!io: no reply within " + ms_text(within), milliseconds(0)});
        if (!m.waiting && m.results.empty()) out.push_back({false, "", milliseconds(0)});  // idle
    }
    return out;
}

std::string summarize(const std::vector<crowd_reply>& replies) {
    std::map<std::string, std::size_t> counts;
    for (const auto& r : replies) ++counts[r.text.substr(0, 160)];
    std::vector<std::pair<std::size_t, std::string>> sorted;
    for (auto& [text, n] : counts) sorted.emplace_back(n, text);
    std::sort(sorted.begin(), sorted.end(), std::greater<>());
    std::string out;
    for (std::size_t i = 0; i < sorted.size() && i < 20; ++i)
        out += "  " + std::to_string(sorted[i].first) + " x " + sorted[i].second + "\n";
    if (sorted.size() > 20) out += "  ... and " + std::to_string(sorted.size() - 20) + " more\n";
    return out;
}

}  // namespace herdguard::test
