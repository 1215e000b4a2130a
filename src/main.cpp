// The composition root: parse the command line, set up logging, build the server, run it until
// SIGTERM/SIGINT. Nothing else lives here.
#include <atomic>
#include <csignal>
#include <cstdio>
#include <thread>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "herdguard/config/config.h"
#include "herdguard/server/server.h"
#include "herdguard/tls/tls_context.h"

namespace {

// The message as a JSON string body: keys in log lines are client data and may hold quotes,
// backslashes or control bytes.
class json_escaped_message final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        static constexpr char hex[] = "0123456789abcdef";
        for (char ch : msg.payload) {
            auto c = static_cast<unsigned char>(ch);
            if (c == '"' || c == '\\') {
                dest.push_back('\\');
                dest.push_back(ch);
            } else if (c < 0x20) {
                const char esc[] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
                dest.append(esc, esc + sizeof esc);
            } else {
                dest.push_back(ch);
            }
        }
    }
    std::unique_ptr<custom_flag_formatter> clone() const override { return std::make_unique<json_escaped_message>(); }
};

void setup_logging(const herdguard::config& cfg) {
    auto logger = spdlog::stdout_logger_mt("herdguard");
    if (cfg.log_format == "json") {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<json_escaped_message>('*').set_pattern(
            R"({"ts":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","msg":"%*"})");
        logger->set_formatter(std::move(formatter));
    } else {
        logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
    }
    logger->set_level(spdlog::level::from_str(cfg.log_level));
    logger->flush_on(spdlog::level::info);
    spdlog::set_default_logger(logger);
}

// SIGHUP: read the configuration again (file, env and flags, as at start) and swap the routes.
// A file that does not validate is rejected whole and the old routes stay. Other settings
// (listen address, threads, Redis) need a restart.
void reload_routes(int argc, char** argv, herdguard::server& srv) {
    auto parsed = herdguard::parse_command_line(argc, argv);
    if (auto* err = std::get_if<herdguard::config_error>(&parsed)) {
        spdlog::error("SIGHUP: reload rejected, keeping the current routes: {}", err->message);
        return;
    }
    const auto& routes = std::get<herdguard::command_line>(parsed).cfg.routes;
    std::size_t kept = srv.reload_routes(routes);
    spdlog::info("SIGHUP: routes reloaded: {} in effect, {} unchanged", routes.size(), kept);
}

}  // namespace

// The composition root, top to bottom: parse, configure logging, build, run, drain. Longer than
// 60 lines because each step is a few lines of wiring that reads best in order.
int main(int argc, char** argv) {
    auto parsed = herdguard::parse_command_line(argc, argv);
    if (auto* err = std::get_if<herdguard::config_error>(&parsed)) {
        std::fprintf(stderr, "herdguard: %s\n", err->message.c_str());
        return 2;
    }
    auto& cl = std::get<herdguard::command_line>(parsed);
    if (cl.show_help) return 0;
    if (cl.show_version) {
        std::printf("herdguard 0.1.0\n");
        return 0;
    }
    if (cl.check_only) {
        // Load the certificates and keys as startup would: a PEM that does not parse or a key
        // that does not match its certificate fails the check, not the deploy.
        auto tls = herdguard::make_tls_contexts(cl.cfg);
        if (auto* err = std::get_if<herdguard::config_error>(&tls)) {
            std::fprintf(stderr, "herdguard: %s\n", err->message.c_str());
            return 2;
        }
        std::printf("%s: ok\n", cl.cfg.source.empty() ? "configuration" : cl.cfg.source.c_str());
        return 0;
    }
    setup_logging(cl.cfg);
    std::signal(SIGPIPE, SIG_IGN);

    // Signals are taken synchronously on a thread of their own, so no handler runs on a worker.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGTERM);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);  // inherited by every thread below

    try {
        herdguard::server srv(cl.cfg);
        // The signal thread drains or reloads; main joins it before the server is destroyed, so
        // no signal handling can touch a server that is being torn down.
        std::atomic<bool> exiting{false};
        std::thread signal_thread([&] {
            while (true) {
                int sig = 0;
                if (sigwait(&signals, &sig) != 0) continue;
                if (exiting.load()) return;  // main is done: woken only to end this thread
                if (sig == SIGHUP) {
                    reload_routes(argc, argv, srv);
                    continue;
                }
                spdlog::info("signal {}: shutting down gracefully", sig);
                srv.drain(cl.cfg.shutdown_timeout);
                return;
            }
        });
        struct join_signal_thread {
            std::thread& t;
            std::atomic<bool>& exiting;
            ~join_signal_thread() {
                exiting.store(true);
                pthread_kill(t.native_handle(), SIGTERM);  // wakes sigwait if it still waits
                t.join();
            }
        } joiner{signal_thread, exiting};
        srv.run();
    } catch (const std::exception& e) {
        spdlog::error("fatal: {}", e.what());
        std::fprintf(stderr, "herdguard: %s\n", e.what());
        return 1;
    }
    spdlog::info("stopped");
    return 0;
}
