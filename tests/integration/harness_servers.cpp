// The test harness, servers: redis-server and herdguard processes on free loopback ports, ready
// once they answer PING, stopped by PID.
#include "harness.h"
#include "harness_internal.h"

#include <csignal>
#include <fstream>
#include <thread>

namespace herdguard::test {

using namespace detail;

namespace {

bool answers_ping(std::uint16_t port, const std::string& password = {}) {
    try {
        client c(port, 250ms);
        if (!password.empty() && c.cmd({"AUTH", password}) != "+OK") return false;
        return c.cmd({"PING"}) == "+PONG";
    } catch (const harness_error&) {
        return false;
    }
}
// Polls connect+PING every 20 ms for at most ~5 s, giving up early if the child exits.
readiness wait_until_ready(process& proc, std::uint16_t port, const std::string& password = {}) {
    return wait_until_answering(proc, [port, &password] { return answers_ping(port, password); });
}

}  // namespace

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

redis_server::redis_server(const temp_dir& dir, std::string password, std::vector<std::string> extra_args,
                           std::uint16_t port)
    : dir_(dir), password_(std::move(password)), extra_args_(std::move(extra_args)), port_(port) {
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
        std::vector<std::string> argv{herdguard_binary(), "--listen", "127.0.0.1:" + std::to_string(port_)};
        if (redis_port != 0) argv.insert(argv.end(), {"--redis", "127.0.0.1:" + std::to_string(redis_port)});
        argv.insert(argv.end(), {"--threads", std::to_string(opts.threads), "--log-level", opts.log_level});
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

}  // namespace herdguard::test
