// The test harness, read-through stacks: the demo upstream, route configs, INFO and counter
// readers, and herd_stack (one Redis, one upstream, several proxies).
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
      << "    protect: " << (r.protect ? "true" : "false") << "\n";
    if (r.early_refresh_beta > 0) y << "    early_refresh:\n      beta: " << r.early_refresh_beta << "\n";
    if (!r.l1.empty()) y << "    l1: " << r.l1 << "\n";
    y
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

}  // namespace herdguard::test
