// Operating herdguard: the admin HTTP listener (/metrics, /healthz, /readyz), INFO herdguard, the
// HERDGUARD command, graceful SIGTERM drain and SIGHUP route reload. Real redis-server, real
// herdguard processes (signalled by PID) and the scriptable demo upstream.
//
// Waiting: every wait is an event polled with a bound (the upstream's /_stats, INFO herdguard,
// HERDGUARD FLIGHTS, /readyz, the process's exit, its log).
#include <sys/wait.h>

#include <algorithm>
#include <charconv>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>

#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

using steady = std::chrono::steady_clock;

// The demo upstream's answer to the n-th request for `path`, as a canonical bulk reply.
std::string value_of(const std::string& path, int n = 1) {
    return "$value:" + path + "#" + std::to_string(n);
}

long long ms_since(steady::time_point t0) {
    return std::chrono::duration_cast<milliseconds>(steady::now() - t0).count();
}

std::size_t count_of(const std::vector<crowd_reply>& replies, const std::string& text) {
    return static_cast<std::size_t>(std::count_if(
        replies.begin(), replies.end(), [&](const crowd_reply& r) { return r.text == text; }));
}

std::size_t occurrences(const std::string& haystack, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = haystack.find(needle); at != std::string::npos;
         at = haystack.find(needle, at + needle.size()))
        ++n;
    return n;
}

// ---------------------------------------------------------------------------------------------
// Configs: the harness writes one route; these add what the ops tests need.

// The "  - name: ..." block of one route, as herdguard_config() writes it.
std::string route_yaml(std::uint16_t redis_port, const route_options& route) {
    const std::string all = herdguard_config(redis_port, route);
    const auto at = all.find("routes:\n");
    if (at == std::string::npos) throw harness_error("herdguard_config() wrote no routes:\n" + all);
    return all.substr(at + 8);
}

// Inserts `  password: "<pw>"` into the redis: block.
std::string with_redis_password(std::string yaml, std::uint16_t redis_port, const std::string& pw) {
    const std::string address = "redis:\n  address: 127.0.0.1:" + std::to_string(redis_port) + "\n";
    const auto at = yaml.find(address);
    if (at == std::string::npos) throw harness_error("no redis block in:\n" + yaml);
    yaml.insert(at + address.size(), "  password: \"" + pw + "\"\n");
    return yaml;
}

struct ops_options {
    std::string redis_password;                    // non-empty: redis-server --requirepass
    std::optional<milliseconds> shutdown_timeout;  // top-level shutdown_timeout
    int threads = 2;
};

// temp dir, redis-server, the demo upstream, one herdguard with the admin listener on a free
// port and the route (its upstream pointing at the demo upstream).
struct ops_stack {
    explicit ops_stack(route_options r = {}, ops_options o = {})
        : opts(std::move(o)), redis(dir, opts.redis_password), upstream(dir), route(std::move(r)) {
        if (route.upstream.empty()) route.upstream = upstream.url();
        herdguard_options hg;
        hg.threads = opts.threads;
        hg.admin = "auto";
        hg.config_yaml = config_with(route);
        proxy = std::make_unique<herdguard_proc>(dir, redis.port(), hg);
    }

    // A full config with these routes (the first one is `route` unless given), plus the options.
    std::string config_with(const route_options& first,
                            const std::vector<route_options>& more = {}) const {
        std::string yaml = herdguard_config(redis.port(), first);
        for (const auto& r : more) yaml += route_yaml(redis.port(), r);
        if (!opts.redis_password.empty())
            yaml = with_redis_password(yaml, redis.port(), opts.redis_password);
        if (opts.shutdown_timeout)
            yaml += "shutdown_timeout: " + std::to_string(opts.shutdown_timeout->count()) + "ms\n";
        return yaml;
    }

    std::uint16_t port() const { return proxy->port(); }
    std::uint16_t admin() const { return proxy->admin_port(); }
    client proxy_client(milliseconds timeout = 2s) { return client(port(), timeout); }
    std::string logs() {
        return "--- herdguard (" + proxy->describe_exit() + ")\n" + proxy->log_tail(3000) +
               "\n--- demo upstream\n" + upstream.log_tail(1500) + "\n";
    }

    ops_options opts;
    temp_dir dir;
    redis_server redis;
    demo_upstream upstream;
    route_options route;
    std::unique_ptr<herdguard_proc> proxy;
};

void require_alive(ops_stack& stack) {
    INFO(stack.logs());
    REQUIRE(stack.proxy->running());
}

// ---------------------------------------------------------------------------------------------
// Prometheus text exposition: "name{labels} value" samples ('#' lines skipped).
struct metrics {
    std::string text;
    std::map<std::string, std::string> samples;  // key: name with its label set, as written

    bool has(const std::string& sample) const { return samples.count(sample) != 0; }
    std::string value(const std::string& sample) const {
        auto it = samples.find(sample);
        return it == samples.end() ? "(no sample " + sample + ")" : it->second;
    }
    double number(const std::string& sample) const {
        auto it = samples.find(sample);
        if (it == samples.end()) throw harness_error("/metrics has no sample " + sample);
        return std::stod(it->second);
    }
};

metrics parse_metrics(std::string text) {
    metrics m;
    m.text = std::move(text);
    std::string_view rest = m.text;
    while (!rest.empty()) {
        auto eol = rest.find('\n');
        std::string_view line = rest.substr(0, eol);
        rest = eol == std::string_view::npos ? std::string_view{} : rest.substr(eol + 1);
        if (line.empty() || line.front() == '#') continue;
        auto space = line.rfind(' ');
        if (space == std::string_view::npos)
            throw harness_error("bad /metrics line: " + std::string(line));
        m.samples[std::string(line.substr(0, space))] = std::string(line.substr(space + 1));
    }
    return m;
}

metrics scrape(std::uint16_t admin_port) {
    auto res = http_get(admin_port, "/metrics");
    if (res.status != 200)
        throw harness_error("/metrics: HTTP " + std::to_string(res.status) + " " + res.body);
    return parse_metrics(res.body);
}

std::string route_sample(const std::string& name, const std::string& route = "products") {
    return name + "{route=\"" + route + "\"}";
}

std::string request_count(const std::string& outcome) {
    return "herdguard_route_request_duration_seconds_count{route=\"products\",outcome=\"" +
           outcome + "\"}";
}

// ---------------------------------------------------------------------------------------------
// HERDGUARD replies: flat field/value arrays.
std::map<std::string, std::string> pairs_of(const reply& r) {
    if (r.type != reply::kind::array || r.elements.size() % 2 != 0)
        throw harness_error("not a field/value array: " + r.canonical());
    std::map<std::string, std::string> out;
    for (std::size_t i = 0; i < r.elements.size(); i += 2)
        out[r.elements[i].str] = r.elements[i + 1].str;
    return out;
}

std::vector<std::map<std::string, std::string>> list_of_pairs(const reply& r) {
    if (r.type != reply::kind::array) throw harness_error("not an array: " + r.canonical());
    std::vector<std::map<std::string, std::string>> out;
    for (const auto& e : r.elements) out.push_back(pairs_of(e));
    return out;
}

// True when a new RESP connection is refused, or accepted and closed without an answer.
bool refuses_new_connections(std::uint16_t port) {
    try {
        raw_conn c(port, 500ms);
        if (!c.send(encode_command({"PING"}))) return true;
        if (!c.read_reply(500ms).empty()) return false;
        return c.wait_closed(500ms);
    } catch (const harness_error&) {
        return true;  // connect failed
    }
}

int readyz_status(std::uint16_t admin_port, std::string* body = nullptr) {
    auto res = http_get(admin_port, "/readyz");
    if (body) *body = res.body;
    return res.status;
}

// A fresh herdguard answers PING before its shared Redis connections are up, and /readyz says
// 503 "redis unavailable" until one is: wait for 200 (bounded).
bool becomes_ready(std::uint16_t admin_port, milliseconds within = 3s) {
    return eventually([&] { return readyz_status(admin_port) == 200; }, within);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
TEST_CASE("/metrics after a herd run", "[integration][ops]") {
    ops_stack stack;
    stack.upstream.control("latency_ms=200");
    crowd clients({stack.port()}, 1000);

    auto replies = clients.request_all({"GET", "product:1"}, 5s);
    auto st = stack.upstream.stats();
    INFO("replies:\n" << summarize(replies) << "upstream /_stats:\n" << st.text);
    REQUIRE(count_of(replies, value_of("/products/1")) == 1000);
    CHECK(st.total == 1);

    const auto m = scrape(stack.admin());
    INFO("/metrics:\n" << m.text);
    CHECK(m.value(route_sample("herdguard_route_requests_total")) == "1000");
    CHECK(m.value(route_sample("herdguard_route_loads_ok_total")) == "1");
    CHECK(m.value(route_sample("herdguard_route_misses_total")) == "1000");
    CHECK(m.value(route_sample("herdguard_route_coalesced_total")) == "999");
    CHECK(m.value(route_sample("herdguard_route_hits_total")) == "0");
    CHECK(m.value(route_sample("herdguard_route_errors_total")) == "0");
    CHECK(m.value(route_sample("herdguard_route_waiters")) == "0");
    CHECK(m.value(route_sample("herdguard_route_loads_in_flight")) == "0");
    CHECK(m.value(route_sample("herdguard_route_breaker_state")) == "0");
    CHECK(m.value(request_count("loaded")) == "1");
    CHECK(m.value(request_count("waited")) == "999");
    CHECK(m.value(request_count("fresh")) == "0");
    CHECK(m.value(request_count("stale")) == "0");
    CHECK(m.value(request_count("error")) == "0");
    // Buckets are cumulative: +Inf holds every observation.
    CHECK(m.value("herdguard_route_request_duration_seconds_bucket{route=\"products\",outcome="
                  "\"waited\",le=\"+Inf\"}") == "999");
    CHECK(m.value(route_sample("herdguard_route_load_duration_seconds_count")) == "1");
    // The one load took the upstream's 200 ms (and not absurdly more).
    const double load_s = m.number(route_sample("herdguard_route_load_duration_seconds_sum"));
    CHECK(load_s >= 0.19);
    CHECK(load_s < 2.0);
    CHECK(m.number("herdguard_connected_clients") >= 1000);
    CHECK(m.number("herdguard_redis_connections_up") >= 1);
    CHECK(m.number("herdguard_connections_accepted_total") >= 1000);

    // The exposition is valid Prometheus text, lint included.
    if (!std::filesystem::exists("/usr/bin/promtool")) {
        WARN("promtool not installed at /usr/bin/promtool: skipping `promtool check metrics`");
    } else {
        auto res = run_command({"/usr/bin/promtool", "check", "metrics"}, 20s, m.text);
        INFO("promtool exit " << res.exit_code << (res.timed_out ? " (timed out)" : "")
                              << "\nstdout:\n"
                              << res.out << "\nstderr:\n"
                              << res.err);
        CHECK(!res.timed_out);
        CHECK(res.exit_code == 0);
    }
    require_alive(stack);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("INFO and /metrics agree", "[integration][ops]") {
    ops_stack stack;
    {
        auto c = stack.proxy_client();
        REQUIRE(c.cmd({"SET", "plain:a", "1"}) == "+OK");
        REQUIRE(c.cmd({"GET", "plain:a"}) == "$1");
        REQUIRE(c.cmd({"GET", "product:1"}) == value_of("/products/1"));  // a load
        REQUIRE(c.cmd({"GET", "product:1"}) == value_of("/products/1"));  // a hit
        REQUIRE(c.cmd({"GET", "product:missing-x"}) == "(nil)");          // a 404 load
        REQUIRE(c.cmd({"MGET", "product:1", "plain:a"}) ==
                "*[" + value_of("/products/1") + ", $1]");
        REQUIRE(c.cmd({"HERDGUARD", "STATS"}).rfind("*[", 0) == 0);
    }
    // Every connection above is closed; wait until the proxy has seen that, so the gauge is still.
    REQUIRE(eventually(
        [&] { return scrape(stack.admin()).value("herdguard_connected_clients") == "0"; }, 2s));

    // INFO over one raw connection that stays open (connected_clients stays put). INFO itself is
    // the only traffic between the two reads: its reply shows up in bytes_out once written, and
    // the command in commands_local (see below).
    raw_conn conn(stack.port());
    REQUIRE(conn.send(encode_command({"INFO", "herdguard"})));
    const std::string info_bytes = conn.read_reply();
    REQUIRE(!info_bytes.empty());
    const reply info_reply = parse_reply(info_bytes);
    REQUIRE(info_reply.type == reply::kind::string);
    const auto info = info_fields(info_reply.str);

    auto bytes_out_after = [&]() -> std::string {
        auto it = info.find("bytes_out");
        if (it == info.end()) return "(no bytes_out in INFO)";
        return std::to_string(std::stoull(it->second) + info_bytes.size());
    };
    metrics m;
    // bytes_out is counted when the write completes: poll (bounded) until INFO's reply is in.
    eventually(
        [&] {
            m = scrape(stack.admin());
            return m.value("herdguard_bytes_out_total") == bytes_out_after();
        },
        2s);
    {
        INFO("INFO herdguard:\n" << info_reply.str << "\n/metrics:\n" << m.text);
        CHECK(m.value("herdguard_bytes_out_total") == bytes_out_after());
    }
    INFO("INFO herdguard:\n" << info_reply.str);

    const std::string route_prefix = "route_products_";
    std::set<std::string> compared;  // /metrics samples an INFO field was compared with
    std::size_t route_fields = 0, proxy_fields = 0;
    for (const auto& [field, value] : info) {
        std::string sample;
        std::string expected = value;
        if (field == "routes") {
            CHECK(value == "1");
            continue;
        }
        if (field.rfind(route_prefix, 0) == 0) {
            ++route_fields;
            const std::string name = field.substr(route_prefix.size());
            if (name == "waiters_now") {
                sample = route_sample("herdguard_route_waiters");
            } else if (name == "loads_in_flight") {
                sample = route_sample("herdguard_route_loads_in_flight");
            } else if (name == "breaker_state") {
                sample = route_sample("herdguard_route_breaker_state");
                expected = value == "closed" ? "0" : value == "open" ? "1" : "2";
            } else {
                sample = route_sample("herdguard_route_" + name + "_total");
            }
        } else {
            ++proxy_fields;
            if (field == "bytes_out") continue;  // compared above, with INFO's own reply added
            sample = field == "connected_clients" ? "herdguard_connected_clients"
                                                  : "herdguard_" + field + "_total";
            // INFO's own command: `commands` counts it before the section is taken (so does
            // bytes_in), `commands_local` just after.
            if (field == "commands_local") expected = std::to_string(std::stoull(value) + 1);
        }
        compared.insert(sample);
        if (!m.has(sample)) {
            FAIL_CHECK("INFO " << field << ":" << value << " has no /metrics sample " << sample);
            continue;
        }
        INFO("INFO " << field << ":" << value << "  vs  /metrics " << sample);
        CHECK(m.value(sample) == expected);
    }
    compared.insert("herdguard_bytes_out_total");
    // Every route counter and every proxy counter was there to compare.
    CHECK(route_fields >= 21 + 3);
    CHECK(proxy_fields >= 15 + 1);
    CHECK(info.at("route_products_requests") == "4");  // 3 routed GETs + 1 routed MGET key
    CHECK(info.at("route_products_loads_ok") == "1");
    CHECK(info.at("route_products_loads_not_found") == "1");
    CHECK(info.at("route_products_hits") == "2");

    // And the other way: every counter /metrics has appears in INFO.
    for (const auto& [sample, value] : m.samples) {
        const bool proxy_counter = sample.rfind("herdguard_", 0) == 0 &&
                                   sample.find('{') == std::string::npos && sample.size() > 6 &&
                                   sample.substr(sample.size() - 6) == "_total";
        const bool route_counter = sample.rfind("herdguard_route_", 0) == 0 &&
                                   sample.find("_total{route=\"products\"}") != std::string::npos;
        if (!proxy_counter && !route_counter) continue;
        INFO("/metrics sample " << sample << " " << value << " has no INFO counterpart");
        CHECK(compared.count(sample) == 1);
    }
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("SIGTERM drains: waiting clients get their value, then exit 0", "[integration][ops]") {
    ops_options o;
    o.shutdown_timeout = 5s;
    route_options route;
    route.load_timeout = 3s;  // the load (1.5 s) must not time out
    ops_stack stack(route, o);
    stack.upstream.control("latency_ms=1500");
    const auto port = stack.port();
    const auto admin = stack.admin();
    REQUIRE(becomes_ready(admin));
    crowd clients({port}, 20);

    clients.send_all({"GET", "product:drain"});
    REQUIRE(eventually([&] { return stack.upstream.count("/products/drain") == 1; }, 2s));
    REQUIRE(eventually([&] { return route_counter(port, "waiters_now") == 20; }, 2s));

    stack.proxy->signal(SIGTERM);
    const auto term_at = steady::now();

    // While the load runs: not ready, and no new connections.
    std::string body;
    int status = 0;
    CHECK(eventually(
        [&] {
            status = readyz_status(admin, &body);
            return status == 503;
        },
        1s));
    CHECK(body == "draining\n");
    CHECK(eventually([&] { return refuses_new_connections(port); }, 1s));
    const auto checked_after = ms_since(term_at);
    {
        INFO("readyz and the refused connection were checked " << checked_after
                                                               << " ms after SIGTERM\n"
                                                               << stack.logs());
        CHECK(stack.proxy->running());  // the checks above ran during the drain
    }

    auto replies = clients.collect(4s);
    {
        INFO("replies:\n" << summarize(replies) << stack.logs());
        CHECK(count_of(replies, value_of("/products/drain")) == 20);
    }

    const bool exited =
        stack.proxy->wait_exit(o.shutdown_timeout.value() + 2s - milliseconds(ms_since(term_at)));
    const auto exit_after = ms_since(term_at);
    INFO("exit " << exit_after << " ms after SIGTERM: " << stack.proxy->describe_exit() << "\n"
                 << stack.logs());
    REQUIRE(exited);
    CHECK(exit_after < o.shutdown_timeout->count());
    REQUIRE(stack.proxy->wait_status().has_value());
    const int st = *stack.proxy->wait_status();
    CHECK(WIFEXITED(st));
    CHECK(WEXITSTATUS(st) == 0);
    CHECK(stack.proxy->log_tail(100000).find("shutdown_timeout reached") == std::string::npos);
    CHECK(stack.upstream.total() == 1);
    CHECK(refuses_new_connections(port));
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("SIGHUP reloads routes; a broken file is rejected and the old routes stay",
          "[integration][ops]") {
    ops_stack stack;
    const auto port = stack.port();
    route_options items;
    items.name = "items";
    items.match = "item:*";
    items.upstream = stack.upstream.url("/items/{1}");

    auto first = stack.proxy_client();
    REQUIRE(first.cmd({"GET", "product:1"}) == value_of("/products/1"));
    CHECK(first.cmd({"GET", "item:1"}) == "(nil)");  // unrouted: plain Redis
    CHECK(stack.upstream.count("/items/1") == 0);

    std::ofstream(stack.proxy->config_path(), std::ios::trunc)
        << stack.config_with(stack.route, {items});
    stack.proxy->signal(SIGHUP);
    const auto hup_at = steady::now();

    std::string last;
    const bool routed = eventually(
        [&] {
            last = stack.proxy_client().cmd({"GET", "item:2"});
            return last == value_of("/items/2");
        },
        3s, 50ms);
    {
        INFO("last GET item:2: " << last << " " << ms_since(hup_at) << " ms after SIGHUP\n"
                                 << stack.logs());
        REQUIRE(routed);
    }
    // The connection from before the reload is still there, and routed by the new routes.
    CHECK(first.cmd({"PING"}) == "+PONG");
    CHECK(first.cmd({"GET", "item:1"}) == value_of("/items/1"));
    CHECK(first.cmd({"GET", "product:1"}) == value_of("/products/1"));  // still cached
    CHECK(first.cmd({"GET", "product:2"}) == value_of("/products/2"));
    {
        auto routes = list_of_pairs(first.cmd_reply({"HERDGUARD", "ROUTES"}));
        REQUIRE(routes.size() == 2);
        CHECK(routes[0]["name"] == "products");
        CHECK(routes[1]["name"] == "items");
        CHECK(routes[1]["match"] == "item:*");
    }
    // The unchanged route kept its runtime: its counters carry over.
    CHECK(route_counter(port, "requests") == 3);
    CHECK(route_counter(port, "requests", "items") == 2);

    // Broken files: YAML that does not parse, then YAML that does not validate.
    const std::vector<std::pair<std::string, std::string>> broken = {
        {"bad YAML", "routes:\n  - name: items\n    match: [unclosed\n"},
        {"bad route", stack.config_with(stack.route, {items}) + "    bogus_field: 1\n"},
    };
    for (std::size_t i = 0; i < broken.size(); ++i) {
        INFO(broken[i].first);
        std::ofstream(stack.proxy->config_path(), std::ios::trunc) << broken[i].second;
        stack.proxy->signal(SIGHUP);
        CHECK(eventually(
            [&] { return occurrences(stack.proxy->log_tail(1000000), "reload rejected") == i + 1; },
            2s));
        require_alive(stack);
        const std::string key = "item:" + std::to_string(3 + i);
        const std::string path = "/items/" + std::to_string(3 + i);
        CHECK(stack.proxy_client().cmd({"GET", key}) == value_of(path));  // still routed: loads
        CHECK(first.cmd({"GET", "product:" + std::to_string(3 + i)}) ==
              value_of("/products/" + std::to_string(3 + i)));
        CHECK(list_of_pairs(first.cmd_reply({"HERDGUARD", "ROUTES"})).size() == 2);
    }
    INFO(stack.logs());
    CHECK(stack.upstream.count("/items/3") == 1);
    CHECK(stack.upstream.count("/items/4") == 1);
    require_alive(stack);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("HERDGUARD FLIGHTS shows a slow load; ROUTES, CONFIG, HELP, STATS",
          "[integration][ops]") {
    const std::string password = "s3cret-Pa55";
    ops_options o;
    o.redis_password = password;
    ops_stack stack(route_options{}, o);
    stack.upstream.control("latency_ms=1000");
    auto waiter = stack.proxy_client(3s);
    auto ops = stack.proxy_client();

    CHECK(ops.cmd({"HERDGUARD", "FLIGHTS"}) == "*[]");
    waiter.append({"GET", "product:f"});
    REQUIRE(waiter.flush());
    std::vector<std::map<std::string, std::string>> flights;
    std::string raw;
    const bool seen = eventually(
        [&] {
            auto r = ops.cmd_reply({"HERDGUARD", "FLIGHTS"});
            raw = r.canonical();
            flights = list_of_pairs(r);
            return !flights.empty();
        },
        900ms, 10ms);
    {
        INFO("FLIGHTS: " << raw << "\n" << stack.logs());
        REQUIRE(seen);
        REQUIRE(flights.size() == 1);
        auto& f = flights[0];
        CHECK(f["route"] == "products");
        CHECK(f["key"] == "product:f");
        CHECK(f["waiters"] == "1");
        CHECK(f["kind"] == "load");
        long long age = -1;
        const auto& a = f["age_ms"];
        auto [p, ec] = std::from_chars(a.data(), a.data() + a.size(), age);
        CHECK(ec == std::errc{});
        CHECK(age >= 0);
        CHECK(age < 1500);
    }
    CHECK(waiter.get_reply() == value_of("/products/f"));
    CHECK(eventually([&] { return ops.cmd({"HERDGUARD", "FLIGHTS"}) == "*[]"; }, 1s));

    {
        auto routes = list_of_pairs(ops.cmd_reply({"HERDGUARD", "ROUTES"}));
        REQUIRE(routes.size() == 1);
        auto& r = routes[0];
        CHECK(r["name"] == "products");
        CHECK(r["match"] == "product:*");
        CHECK(r["upstream"] == stack.upstream.url());
        CHECK(r["breaker_state"] == "closed");
        CHECK(r["waiters_now"] == "0");
        CHECK(r["loads_in_flight"] == "0");
    }
    {
        auto reply = ops.cmd_reply({"HERDGUARD", "CONFIG"});
        INFO("CONFIG: " << reply.canonical());
        auto cfg = pairs_of(reply);
        CHECK(cfg["redis.password"] == "********");
        CHECK(reply.canonical().find(password) == std::string::npos);
        CHECK(cfg["routes"] == "1");
        CHECK(cfg["source"] == stack.proxy->config_path().string());
        CHECK(cfg["admin.listen"] == "127.0.0.1:" + std::to_string(stack.admin()));
    }
    {
        auto help = ops.cmd_reply({"HERDGUARD", "HELP"});
        INFO("HELP: " << help.canonical());
        REQUIRE(help.type == reply::kind::array);
        CHECK(help.elements.size() >= 5);
        for (const auto& line : help.elements) CHECK(line.type == reply::kind::status);
        REQUIRE(!help.elements.empty());
        CHECK(help.elements[0].str.rfind("HERDGUARD", 0) == 0);
        for (const char* sub : {"ROUTES", "STATS", "FLIGHTS", "CONFIG", "HELP"})
            CHECK(help.canonical().find(sub) != std::string::npos);
    }
    {
        auto stats = pairs_of(ops.cmd_reply({"HERDGUARD", "STATS", "products"}));
        CHECK(stats["requests"] == "1");
        CHECK(stats["loads_ok"] == "1");
        CHECK(stats["breaker_state"] == "closed");
        auto all = pairs_of(ops.cmd_reply({"HERDGUARD", "STATS"}));
        CHECK(all["route:products:requests"] == "1");
        CHECK(all.count("commands") == 1);
        CHECK(ops.cmd({"HERDGUARD", "STATS", "nosuch"}).rfind("-ERR no such route", 0) == 0);
    }
    auto bogus = ops.cmd_reply({"HERDGUARD", "BOGUS"});
    INFO("BOGUS: " << bogus.canonical());
    CHECK(bogus.is_error());
    CHECK(bogus.str.rfind("ERR unknown subcommand", 0) == 0);
    CHECK(ops.cmd({"herdguard", "flights"}) == "*[]");  // case-insensitive
    CHECK(ops.cmd_reply({"HERDGUARD"}).is_error());
    CHECK(stack.upstream.total() == 1);
    require_alive(stack);
}

// ---------------------------------------------------------------------------------------------
TEST_CASE("/healthz and /readyz follow Redis", "[integration][ops]") {
    ops_stack stack;
    const auto admin = stack.admin();
    std::string body;
    REQUIRE(becomes_ready(admin));
    CHECK(readyz_status(admin, &body) == 200);
    CHECK(body == "ready\n");
    CHECK(http_get(admin, "/healthz").status == 200);
    CHECK(http_get(admin, "/nope").status == 404);

    stack.redis.kill9();
    const auto killed_at = steady::now();
    int status = 0;
    const bool unready = eventually(
        [&] {
            status = readyz_status(admin, &body);
            return status == 503;
        },
        2s);
    {
        INFO("readyz " << status << " " << body << " " << ms_since(killed_at)
                       << " ms after the kill\n"
                       << stack.logs());
        REQUIRE(unready);
        CHECK(body == "redis unavailable\n");
    }
    CHECK(http_get(admin, "/healthz").status == 200);
    CHECK(scrape(admin).value("herdguard_redis_connections_up") == "0");

    stack.redis.restart();  // same port
    const auto restarted_at = steady::now();
    const bool ready = eventually(
        [&] {
            status = readyz_status(admin, &body);
            return status == 200;
        },
        5s, 50ms);
    INFO("readyz " << status << " " << body << " " << ms_since(restarted_at)
                   << " ms after the restart\n"
                   << stack.logs());
    CHECK(ready);
    CHECK(body == "ready\n");
    CHECK(http_get(admin, "/healthz").status == 200);
    CHECK(scrape(admin).number("herdguard_redis_connections_up") >= 1);
    CHECK(stack.proxy_client().cmd({"PING"}) == "+PONG");
    require_alive(stack);
}
