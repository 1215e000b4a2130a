// Operating herdguard, the admin HTTP listener: /metrics after a herd run (valid Prometheus
// text), INFO herdguard and /metrics agreeing counter for counter, and /healthz and /readyz
// following Redis. Real redis-server, real herdguard processes and the scriptable demo upstream.
//
// Waiting: every wait is an event polled with a bound (the upstream's /_stats, INFO herdguard,
// /metrics, /readyz).
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "harness.h"
#include "operations_helpers.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

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
    // Key names stay out of /metrics unless admin.hot_keys_in_metrics says otherwise.
    CHECK(m.text.find("herdguard_hot_key_reads_per_second") == std::string::npos);
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
            // The gauges by their names, the counters with _total.
            sample = field == "connected_clients"           ? "herdguard_connected_clients"
                     : field == "redis_private_connections" ? "herdguard_redis_private_connections"
                     : field == "l1_active"                 ? "herdguard_l1_active"
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
