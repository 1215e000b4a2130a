// TLS towards clients (tls.listen, driven with `redis-cli --tls`) and towards Redis (redis.tls,
// against redis-server --port 0 --tls-port). Certificates are made per test with the openssl CLI
// in the test's temp dir: a CA, a server certificate for 127.0.0.1 and localhost, a client
// certificate, and a second CA that signed none of them. No key is committed.
#include <unistd.h>

#include <fstream>
#include <latch>
#include <thread>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

std::string describe(const command_result& r) {
    return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") +
           "\nstdout: " + r.out + "\nstderr: " + r.err;
}

void openssl(const std::vector<std::string>& args) {
    std::vector<std::string> argv{"openssl"};
    argv.insert(argv.end(), args.begin(), args.end());
    auto r = run_command(argv, 30s);
    if (r.exit_code != 0) throw harness_error("openssl " + args.at(0) + " failed: " + describe(r));
}

// The test PKI. EC keys: generating them takes milliseconds, RSA ones much longer.
struct pki {
    explicit pki(const temp_dir& dir) : dir_(dir) {
        make_ca("ca");
        make_ca("other-ca");
        make_signed("server", "localhost", "subjectAltName=IP:127.0.0.1,DNS:localhost");
        make_signed("client", "herdguard-test-client", "extendedKeyUsage=clientAuth");
    }
    std::string path(const std::string& name) const { return dir_.file(name).string(); }
    std::string ca() const { return path("ca.crt"); }
    std::string other_ca() const { return path("other-ca.crt"); }
    std::string server_cert() const { return path("server.crt"); }
    std::string server_key() const { return path("server.key"); }
    std::string client_cert() const { return path("client.crt"); }
    std::string client_key() const { return path("client.key"); }

private:
    void make_ca(const std::string& name) {
        openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", path(name + ".key"), "-out", path(name + ".crt"), "-days", "2", "-subj",
                 "/CN=herdguard test " + name});
    }
    void make_signed(const std::string& name, const std::string& cn, const std::string& extension) {
        std::ofstream(dir_.file(name + ".ext")) << extension << "\n";
        openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-keyout",
                 path(name + ".key"), "-out", path(name + ".csr"), "-subj", "/CN=" + cn});
        openssl({"x509", "-req", "-in", path(name + ".csr"), "-CA", ca(), "-CAkey", path("ca.key"),
                 "-CAcreateserial", "-out", path(name + ".crt"), "-days", "2", "-extfile", path(name + ".ext")});
    }
    const temp_dir& dir_;
};

// redis-cli over TLS to 127.0.0.1:port, trusting the test CA; `extra` before the command.
command_result tls_cli(const pki& p, std::uint16_t port, std::vector<std::string> args,
                       const std::string& input = {}, milliseconds timeout = 10s) {
    std::vector<std::string> argv{"redis-cli", "--tls", "--cacert", p.ca(), "-h", "127.0.0.1", "-p",
                                  std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, timeout, input);
}

// redis-server with TLS only (--port 0), persistence off. Ready once `redis-cli --tls` gets PONG
// (bounded); stopped by PID with its process object.
class tls_redis {
public:
    tls_redis(const temp_dir& dir, const pki& p, bool auth_clients) {
        for (int attempt = 0;; ++attempt) {
            port_ = free_port();
            auto data = dir.file("tls-redis-" + std::to_string(port_));
            std::filesystem::create_directories(data);
            proc_ = std::make_unique<process>(
                std::vector<std::string>{"redis-server", "--port", "0", "--tls-port", std::to_string(port_),
                                         "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir",
                                         data.string(), "--tls-cert-file", p.server_cert(), "--tls-key-file",
                                         p.server_key(), "--tls-ca-cert-file", p.ca(), "--tls-auth-clients",
                                         auth_clients ? "yes" : "no"},
                dir.file("tls-redis-" + std::to_string(port_) + ".log"));
            std::vector<std::string> cert;
            if (auth_clients) cert = {"--cert", p.client_cert(), "--key", p.client_key()};
            bool ready = eventually(
                [&] {
                    if (!proc_->running()) return true;
                    auto args = cert;
                    args.push_back("PING");
                    return tls_cli(p, port_, args, {}, 2s).out == "PONG\n";
                },
                10s, 50ms);
            if (ready && proc_->running()) return;
            std::string tail = proc_->log_tail();
            proc_->stop();
            if (attempt < 2 && tail.find("in use") != std::string::npos) continue;
            throw harness_error("TLS redis-server on port " + std::to_string(port_) + " did not start; log:\n" + tail);
        }
    }
    std::uint16_t port() const { return port_; }
    std::string log_tail() const { return proc_->log_tail(); }

private:
    std::uint16_t port_ = 0;
    std::unique_ptr<process> proc_;
};

// A second free port for tls.listen, different from anything the harness picks right after.
std::uint16_t tls_port() { return free_port(); }

std::string client_tls_yaml(const pki& p, std::uint16_t port, const std::string& auth_clients,
                            const std::string& handshake_timeout = "5s") {
    return "tls:\n"
           "  listen: 127.0.0.1:" + std::to_string(port) + "\n"
           "  cert_file: " + p.server_cert() + "\n"
           "  key_file: " + p.server_key() + "\n"
           "  ca_file: " + p.ca() + "\n"
           "  auth_clients: " + auth_clients + "\n"
           "  handshake_timeout: " + handshake_timeout + "\n";
}

// The redis.tls section (inserted under "redis:"), trusting `ca`.
std::string redis_tls_lines(const std::string& ca, const pki& p, bool client_cert,
                            const std::string& server_name = "") {
    std::string y = "  tls:\n    enabled: true\n    ca_file: " + ca + "\n";
    if (client_cert) y += "    cert_file: " + p.client_cert() + "\n    key_file: " + p.client_key() + "\n";
    if (!server_name.empty()) y += "    server_name: " + server_name + "\n";
    return y;
}

std::string redis_tls_yaml(const std::string& ca, const pki& p, bool client_cert,
                           const std::string& server_name = "") {
    return "redis:\n  connect_timeout: 1s\n" + redis_tls_lines(ca, p, client_cert, server_name);
}

}  // namespace

TEST_CASE("TLS clients: redis-cli --tls works, pipelined too; plain text and silence are cut off",
          "[integration][tls]") {
    temp_dir dir;
    pki p(dir);
    redis_server redis(dir);
    const auto port = tls_port();
    herdguard_options o;
    o.config_yaml = client_tls_yaml(p, port, "no", "500ms");
    herdguard_proc hg(dir, redis.port(), o);
    INFO("herdguard log:\n" << hg.log_tail());

    auto set = tls_cli(p, port, {"SET", "tls:a", "1"});
    INFO(describe(set));
    CHECK(set.out == "OK\n");
    auto get = tls_cli(p, port, {"GET", "tls:a"});
    INFO(describe(get));
    CHECK(get.out == "1\n");
    client direct(redis.port());
    CHECK(direct.cmd({"GET", "tls:a"}) == "$1");

    // Many requests in few TLS records, and replies larger than one record.
    std::string input;
    for (int i = 0; i < 2000; ++i)
        input += encode_command({"SET", "tls:mass:" + std::to_string(i), std::string(100, 'x')});
    input += encode_command({"SET", "tls:big", std::string(200000, 'b')});
    auto pipe = tls_cli(p, port, {"--pipe"}, input, 30s);
    INFO(describe(pipe));
    CHECK(pipe.exit_code == 0);
    CHECK(pipe.out.find("errors: 0, replies: 2001") != std::string::npos);
    auto big = tls_cli(p, port, {"STRLEN", "tls:big"});
    CHECK(big.out == "200000\n");
    auto big_get = tls_cli(p, port, {"GET", "tls:big"});
    CHECK(big_get.out == std::string(200000, 'b') + "\n");
    CHECK(direct.cmd({"GET", "tls:mass:1999"}) == "$" + std::string(100, 'x'));

    // A stateful client over TLS (private Redis connection): MULTI/EXEC through redis-cli's stdin.
    auto multi = tls_cli(p, port, {}, "MULTI\nINCR tls:n\nINCR tls:n\nEXEC\n");
    INFO(describe(multi));
    CHECK(multi.out.find("2") != std::string::npos);
    CHECK(direct.cmd({"GET", "tls:n"}) == "$2");

    // A plain-text client on the TLS port is disconnected, not left hanging.
    raw_conn plain(port, 3s);
    REQUIRE(plain.send("PING\r\n"));
    CHECK(plain.wait_closed(3s));
    CHECK(plain.pending().find("PONG") == std::string::npos);
    // A client that says nothing is dropped after tls.handshake_timeout (500ms here).
    raw_conn silent(port, 3s);
    auto t0 = std::chrono::steady_clock::now();
    CHECK(silent.wait_closed(3s));
    CHECK(std::chrono::steady_clock::now() - t0 >= 400ms);
    CHECK(herdguard_counter(hg.port(), "tls_handshake_failures") >= 2);

    // The plain listener is untouched.
    client plain_client(hg.port());
    CHECK(plain_client.cmd({"GET", "tls:a"}) == "$1");
    REQUIRE(hg.running());
}

TEST_CASE("TLS clients: listen: off leaves only the TLS listener", "[integration][tls]") {
    temp_dir dir;
    pki p(dir);
    redis_server redis(dir);
    const auto port = tls_port();
    herdguard_options o;
    o.config_yaml = client_tls_yaml(p, port, "no");
    // The harness's readiness probe uses the plain listener, so this one is started by hand.
    auto cfg = dir.file("tls-only.yaml");
    std::ofstream(cfg) << o.config_yaml;
    process hg({herdguard_binary(), "--config", cfg.string(), "--listen", "off", "--redis",
                "127.0.0.1:" + std::to_string(redis.port()), "--admin", "off", "--log-level", "warn"},
               dir.file("tls-only.log"));
    bool ready = eventually([&] { return !hg.running() || tls_cli(p, port, {"PING"}, {}, 2s).out == "PONG\n"; },
                            10s, 50ms);
    INFO("herdguard log:\n" << hg.log_tail());
    REQUIRE(ready);
    REQUIRE(hg.running());
    CHECK(tls_cli(p, port, {"SET", "only", "tls"}).out == "OK\n");
    auto cfg_reply = tls_cli(p, port, {"HERDGUARD", "CONFIG"});
    CHECK(cfg_reply.out.find("listen\noff\n") != std::string::npos);
}

TEST_CASE("TLS clients: auth_clients yes refuses a client without a certificate",
          "[integration][tls]") {
    temp_dir dir;
    pki p(dir);
    redis_server redis(dir);
    const auto port = tls_port();
    herdguard_options o;
    o.config_yaml = client_tls_yaml(p, port, "yes");
    herdguard_proc hg(dir, redis.port(), o);
    client direct(redis.port());

    auto without = tls_cli(p, port, {"SET", "mtls", "anonymous"});
    INFO(describe(without));
    CHECK(without.out != "OK\n");
    CHECK_FALSE(without.timed_out);
    CHECK(direct.cmd({"GET", "mtls"}) == "(nil)");

    auto with = tls_cli(p, port, {"--cert", p.client_cert(), "--key", p.client_key(), "SET", "mtls", "signed"});
    INFO(describe(with));
    CHECK(with.out == "OK\n");
    CHECK(direct.cmd({"GET", "mtls"}) == "$signed");

    // A certificate from a CA herdguard does not trust is refused too: the server certificate is
    // signed by the right CA, so use the other CA's self-signed one as the client's.
    auto untrusted = tls_cli(p, port, {"--cert", p.other_ca(), "--key", p.path("other-ca.key"), "SET", "mtls", "x"});
    INFO(describe(untrusted));
    CHECK(untrusted.out != "OK\n");
    CHECK(direct.cmd({"GET", "mtls"}) == "$signed");
    CHECK(herdguard_counter(hg.port(), "tls_handshake_failures") >= 2);
    REQUIRE(hg.running());
}

TEST_CASE("TLS Redis: commands and a routed read-through GET go over TLS", "[integration][tls]") {
    temp_dir dir;
    pki p(dir);
    tls_redis redis(dir, p, /*auth_clients=*/true);
    demo_upstream upstream(dir);
    route_options route;
    route.upstream = upstream.url();
    std::string yaml = herdguard_config(redis.port(), route);
    const std::string redis_line = "redis:\n  address: 127.0.0.1:" + std::to_string(redis.port()) + "\n";
    REQUIRE(yaml.find(redis_line) != std::string::npos);
    yaml.replace(yaml.find(redis_line), redis_line.size(), redis_line + redis_tls_lines(p.ca(), p, true));
    herdguard_options o;
    o.config_yaml = yaml;
    herdguard_proc hg(dir, redis.port(), o);  // --redis points at the TLS port
    INFO("herdguard log:\n" << hg.log_tail() << "\nredis log:\n" << redis.log_tail());

    client c(hg.port());
    CHECK(c.cmd({"SET", "plain:k", "v"}) == "+OK");
    CHECK(c.cmd({"GET", "plain:k"}) == "$v");
    CHECK(c.pipeline({{"INCR", "n"}, {"INCR", "n"}, {"GET", "n"}}) == std::vector<std::string>{":1", ":2", "$2"});
    // A private connection (MULTI) is a TLS connection of its own.
    CHECK(c.cmd({"MULTI"}) == "+OK");
    CHECK(c.cmd({"INCR", "n"}) == "+QUEUED");
    CHECK(c.cmd({"EXEC"}) == "*[:3]");

    client r(hg.port());
    CHECK(r.cmd({"GET", "product:42"}) == "$value:/products/42#1");
    CHECK(r.cmd({"GET", "product:42"}) == "$value:/products/42#1");  // cached in Redis
    CHECK(upstream.count("/products/42") == 1);
    auto direct = tls_cli(p, redis.port(), {"--cert", p.client_cert(), "--key", p.client_key(), "GET", "product:42"});
    CHECK(direct.out == "value:/products/42#1\n");
    REQUIRE(hg.running());
}

TEST_CASE("TLS Redis: a wrong CA or a name mismatch is 'redis unavailable' with the reason, fast",
          "[integration][tls]") {
    temp_dir dir;
    pki p(dir);
    tls_redis redis(dir, p, /*auth_clients=*/false);

    struct tls_case {
        const char* what;
        std::string ca;
        std::string server_name;
        const char* reason;
    };
    const tls_case cases[] = {
        // Redis sends its chain with the CA, so OpenSSL reports the untrusted root.
        {"wrong CA", p.other_ca(), "", "certificate verify failed: self-signed certificate in certificate chain"},
        {"name mismatch", p.ca(), "redis.example.com", "certificate verify failed: hostname mismatch"},
        {"right CA and name", p.ca(), "localhost", nullptr},
    };
    for (const auto& v : cases) {
        DYNAMIC_SECTION(v.what) {
            herdguard_options o;
            o.config_yaml = redis_tls_yaml(v.ca, p, false, v.server_name);
            herdguard_proc hg(dir, redis.port(), o);
            INFO("herdguard log:\n" << hg.log_tail());
            client c(hg.port(), 3s);
            auto t0 = std::chrono::steady_clock::now();
            std::string reply = c.cmd({"SET", "k", "v"});
            INFO(reply);
            if (v.reason == nullptr) {
                CHECK(reply == "+OK");
            } else {
                CHECK(reply.rfind("-ERR herdguard: redis unavailable (TLS handshake failed: ", 0) == 0);
                CHECK(reply.find(v.reason) != std::string::npos);
                CHECK(std::chrono::steady_clock::now() - t0 < 2s);
                // Still failing fast on the next attempt, and the log says why, once.
                CHECK(c.cmd({"GET", "k"}).find(v.reason) != std::string::npos);
                hg.stop();
                CHECK(hg.log_tail().find(v.reason) != std::string::npos);
            }
        }
    }
}

TEST_CASE("TLS Redis: a plain-text Redis on the address times out or fails, it does not hang",
          "[integration][tls]") {
    temp_dir dir;
    pki p(dir);
    redis_server plain(dir);
    herdguard_options o;
    o.config_yaml = redis_tls_yaml(p.ca(), p, false);
    herdguard_proc hg(dir, plain.port(), o);
    client c(hg.port(), 3s);
    auto t0 = std::chrono::steady_clock::now();
    std::string reply = c.cmd({"GET", "k"});
    INFO(reply << "\n" << hg.log_tail());
    CHECK(reply.rfind("-ERR herdguard: redis unavailable (", 0) == 0);
    CHECK(std::chrono::steady_clock::now() - t0 < 2500ms);
}

TEST_CASE("TLS config errors name the file, the field and the problem", "[integration][tls]") {
    temp_dir dir;
    pki p(dir);
    auto check = [&](const std::string& yaml) {
        auto path = dir.file("bad.yaml");
        std::ofstream(path) << yaml;
        return run_command({herdguard_binary(), "--check", "--config", path.string()}, 10s);
    };
    const std::string file = dir.file("bad.yaml").string();
    const std::string missing = dir.file("nope/server.crt").string();

    auto r = check("tls:\n  listen: 127.0.0.1:16399\n  cert_file: " + missing + "\n  key_file: " + p.server_key() +
                   "\n  auth_clients: no\n");
    INFO(describe(r));
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(file + ": tls.cert_file: cannot open \"" + missing + "\": No such file or directory") !=
          std::string::npos);

    // Startup reports the same, before binding anything.
    auto start = run_command({herdguard_binary(), "--config", file, "--admin", "off"}, 10s);
    INFO(describe(start));
    CHECK(start.exit_code == 2);
    CHECK(start.err.find(file + ": tls.cert_file: cannot open") != std::string::npos);

    // A file that exists but is not a certificate: found when the contexts are built, by --check
    // as by startup.
    auto garbage = dir.file("garbage.crt");
    std::ofstream(garbage) << "not a certificate\n";
    r = check("tls:\n  listen: 127.0.0.1:16399\n  cert_file: " + garbage.string() + "\n  key_file: " +
              p.server_key() + "\n  auth_clients: no\n");
    INFO(describe(r));
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(file + ": tls.cert_file: cannot load certificate \"" + garbage.string() + "\"") !=
          std::string::npos);
    start = run_command({herdguard_binary(), "--config", file, "--admin", "off"}, 10s);
    INFO(describe(start));
    CHECK(start.exit_code != 0);
    CHECK(start.err.find(file + ": tls.cert_file: cannot load certificate") != std::string::npos);

    // A key that belongs to another certificate.
    r = check("tls:\n  listen: 127.0.0.1:16399\n  cert_file: " + p.server_cert() + "\n  key_file: " +
              p.client_key() + "\n  auth_clients: no\n");
    INFO(describe(r));
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(file + ": tls.key_file: ") != std::string::npos);
    CHECK(r.err.find("is not the key of the certificate") != std::string::npos);

    // Redis side: a CA file that is missing.
    r = check("redis:\n  tls:\n    enabled: true\n    ca_file: " + missing + "\n");
    INFO(describe(r));
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(file + ": redis.tls.ca_file: cannot open \"" + missing + "\"") != std::string::npos);

    // And a good one passes.
    r = check(client_tls_yaml(p, 16399, "yes") + redis_tls_yaml(p.ca(), p, true));
    INFO(describe(r));
    CHECK(r.exit_code == 0);
}

namespace {

// One mutual-TLS client on its own thread: connects over TCP, waits at `start` with every other
// client, then runs its handshake, SET and GET. A blocking socket with 10 s send/receive timeouts,
// so a stuck server fails the client instead of hanging the test. Returns "" or what went wrong.
std::string tls_set_get(SSL_CTX* ctx, std::uint16_t port, int id, std::latch& start) {
    std::string problem;
    const int fd = connect_loopback(port, 10s, problem);
    const bool connected = fd >= 0;
    start.arrive_and_wait();  // every client handshakes at once, even one whose connect failed
    SSL* ssl = connected ? SSL_new(ctx) : nullptr;
    if (connected && (SSL_set_fd(ssl, fd) != 1 || SSL_connect(ssl) != 1)) {
        problem = "handshake failed: " + std::to_string(ERR_get_error());
    } else if (connected) {  // (otherwise `problem` says why the connect failed)
        const std::string key = "tls:herd:" + std::to_string(id);
        const std::string request = encode_command({"SET", key, "v" + std::to_string(id)}) +
                                    encode_command({"GET", key});
        const std::string want = "+OK\r\n$" + std::to_string(1 + std::to_string(id).size()) + "\r\nv" +
                                 std::to_string(id) + "\r\n";
        std::string got;
        char buf[256];
        if (SSL_write(ssl, request.data(), static_cast<int>(request.size())) != static_cast<int>(request.size()))
            problem = "write failed";
        while (problem.empty() && got.size() < want.size()) {
            int n = SSL_read(ssl, buf, sizeof buf);
            if (n <= 0) problem = "read failed after \"" + got + "\"";
            else got.append(buf, static_cast<std::size_t>(n));
        }
        if (problem.empty() && got != want) problem = "replied \"" + got + "\"";
        SSL_shutdown(ssl);
    }
    if (ssl) SSL_free(ssl);
    if (fd >= 0) ::close(fd);
    return problem;
}

}  // namespace

// Every worker shares the two OpenSSL contexts, and each first use of a certificate's cached
// fields used to be computed by whichever handshake came first (issue 9; see docs/RELIABILITY.md,
// "TLS handshakes on several workers"). Several fresh processes, each met by a burst of
// simultaneous mutual-TLS handshakes on 4 workers, each worker also handshaking with a TLS
// Redis that checks herdguard's certificate: under TSan (scripts/test-sanitized.sh tsan) any
// unsynchronised access to shared TLS state is reported and fails the run.
TEST_CASE("TLS: bursts of simultaneous mutual-TLS handshakes on 4 workers, to clients and to Redis",
          "[integration][tls]") {
    temp_dir dir;
    pki p(dir);
    tls_redis redis(dir, p, /*auth_clients=*/true);

    std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()), SSL_CTX_free);
    REQUIRE(ctx);
    REQUIRE(SSL_CTX_use_certificate_file(ctx.get(), p.client_cert().c_str(), SSL_FILETYPE_PEM) == 1);
    REQUIRE(SSL_CTX_use_PrivateKey_file(ctx.get(), p.client_key().c_str(), SSL_FILETYPE_PEM) == 1);
    REQUIRE(SSL_CTX_load_verify_locations(ctx.get(), p.ca().c_str(), nullptr) == 1);
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    // Full handshakes every time: resumption would skip the certificate checks.
    SSL_CTX_set_session_cache_mode(ctx.get(), SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx.get(), SSL_OP_NO_TICKET);

    constexpr int processes = 3;
    constexpr int clients = 48;
    for (int round = 0; round < processes; ++round) {
        const auto port = tls_port();
        herdguard_options o;
        o.threads = 4;
        o.config_yaml = client_tls_yaml(p, port, "yes") + redis_tls_yaml(p.ca(), p, /*client_cert=*/true);
        herdguard_proc hg(dir, redis.port(), o);
        INFO("round " << round << "; herdguard log:\n" << hg.log_tail() << "\nredis log:\n" << redis.log_tail());

        std::latch start(clients);
        std::vector<std::string> problems(clients);
        std::vector<std::thread> threads;
        for (int i = 0; i < clients; ++i)
            threads.emplace_back([&, i] { problems[i] = tls_set_get(ctx.get(), port, round * clients + i, start); });
        for (auto& t : threads) t.join();
        int failed = 0;
        for (int i = 0; i < clients; ++i) {
            if (problems[i].empty()) continue;
            ++failed;
            UNSCOPED_INFO("client " << i << ": " << problems[i]);
        }
        CHECK(failed == 0);
        REQUIRE(hg.running());
        CHECK(hg.stop() == 0);
    }
}
