// The test harness, processes: the binaries under test, free ports, temp dirs, child processes
// stopped by PID, redis-server and herdguard processes, run_command, and the fd/RSS helpers.
#include "harness.h"
#include "harness_internal.h"


#include <arpa/inet.h>
#include <fcntl.h>
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

using namespace detail;

namespace {


// The tests write to sockets the peer may have closed (that is what several of them check);
// without this, hiredis's write() would kill the whole test binary with SIGPIPE. Children get
// the default disposition back before exec.
const bool sigpipe_ignored = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
}();




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

std::string join(const std::vector<std::string>& v) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty()) out += ' ';
        out += s;
    }
    return out;
}

}  // namespace

namespace detail {

bool log_says_port_taken(const process& proc) {
    std::string tail = proc.log_tail(8000);
    std::transform(tail.begin(), tail.end(), tail.begin(),
                   [](unsigned char c) { return std::tolower(c); });
    return tail.find("address already in use") != std::string::npos ||
           tail.find("eaddrinuse") != std::string::npos;
}


}  // namespace detail

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

}  // namespace herdguard::test
