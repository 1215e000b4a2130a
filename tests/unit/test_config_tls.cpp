// The TLS settings: tls.* (client listener), redis.tls.*, listen: off, and their errors.
// Certificate contents are not checked here (that needs OpenSSL: see the integration tests);
// the files only have to exist and be readable.
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <map>

#include "config_test_support.h"
#include "herdguard/config/config.h"

using namespace herdguard;
using namespace herdguard::test;

namespace {

// A scratch directory with a few non-empty files standing in for PEM files.
class pem_dir {
public:
    pem_dir() {
        static int counter = 0;
        path_ = std::filesystem::temp_directory_path() /
                ("herdguard-tls-config-test-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
        std::filesystem::create_directories(path_);
        for (const char* name : {"server.crt", "server.key", "ca.crt", "client.crt", "client.key"})
            std::ofstream(path_ / name) << "-----BEGIN PLACEHOLDER-----\n";
        std::ofstream(path_ / "empty.crt").flush();
    }
    ~pem_dir() {
        std::error_code ignored;
        std::filesystem::remove_all(path_, ignored);
    }
    pem_dir(const pem_dir&) = delete;
    pem_dir& operator=(const pem_dir&) = delete;
    std::string file(const std::string& name) const { return (path_ / name).string(); }
    std::string dir() const { return path_.string(); }

private:
    std::filesystem::path path_;
};

std::string client_tls(const pem_dir& d, const std::string& extra = "") {
    return "tls:\n  listen: 127.0.0.1:6390\n  cert_file: " + d.file("server.crt") + "\n  key_file: " +
           d.file("server.key") + "\n" + extra;
}

}  // namespace

TEST_CASE("TLS is off by default, towards clients and towards Redis", "[config][tls]") {
    config cfg = load_ok("");
    CHECK_FALSE(cfg.tls.enabled());
    CHECK_FALSE(cfg.redis.tls.enabled);
    CHECK(cfg.redis.tls.verify);
    CHECK(cfg.listen_enabled);
    CHECK(cfg.tls.auth_clients == tls_auth_clients::yes);  // Redis's tls-auth-clients default
    CHECK(cfg.tls.handshake_timeout == duration(5000));
}

TEST_CASE("tls: a second listener with its certificate", "[config][tls]") {
    pem_dir d;
    config cfg = load_ok(client_tls(d, "  ca_file: " + d.file("ca.crt") +
                                           "\n  auth_clients: optional\n  handshake_timeout: 2s\n"));
    REQUIRE(cfg.tls.enabled());
    CHECK(cfg.tls.listen->to_string() == "127.0.0.1:6390");
    CHECK(cfg.tls.cert_file == d.file("server.crt"));
    CHECK(cfg.tls.key_file == d.file("server.key"));
    CHECK(cfg.tls.ca_file == d.file("ca.crt"));
    CHECK(cfg.tls.auth_clients == tls_auth_clients::optional);
    CHECK(cfg.tls.handshake_timeout == duration(2000));
    CHECK(cfg.listen_enabled);  // the plain listener stays, as Redis's port beside tls-port

    CHECK(load_ok(client_tls(d, "  auth_clients: no\n")).tls.auth_clients == tls_auth_clients::no);
    CHECK(load_ok(client_tls(d, "  auth_clients: yes\n  ca_file: " + d.file("ca.crt") + "\n")).tls.auth_clients ==
          tls_auth_clients::yes);
}

TEST_CASE("tls: errors name the field and the file", "[config][tls]") {
    pem_dir d;
    const std::string missing = d.file("missing.crt");
    CHECK(load_error(client_tls(d, "  auth_clients: no\n")) == "(accepted)");
    CHECK(load_error("tls:\n  listen: 127.0.0.1:6390\n  key_file: " + d.file("server.key") + "\n  auth_clients: no\n") ==
          "cfg.yaml: tls.cert_file: missing (the server certificate, PEM)");
    CHECK(load_error("tls:\n  listen: 127.0.0.1:6390\n  cert_file: " + missing + "\n  key_file: " +
                     d.file("server.key") + "\n  auth_clients: no\n") ==
          "cfg.yaml: tls.cert_file: cannot open \"" + missing + "\": No such file or directory");
    CHECK(load_error("tls:\n  listen: 127.0.0.1:6390\n  cert_file: " + d.file("server.crt") + "\n  key_file: " +
                     d.file("empty.crt") + "\n  auth_clients: no\n") ==
          "cfg.yaml: tls.key_file: \"" + d.file("empty.crt") + "\" is empty");
    CHECK(load_error("tls:\n  listen: 127.0.0.1:6390\n  cert_file: " + d.dir() + "\n  key_file: " +
                     d.file("server.key") + "\n  auth_clients: no\n") ==
          "cfg.yaml: tls.cert_file: cannot read \"" + d.dir() + "\": Is a directory");
    // auth_clients defaults to yes, which needs a CA to check client certificates against.
    CHECK(load_error(client_tls(d)).rfind("cfg.yaml: tls.ca_file: missing: needed to verify client certificates", 0) == 0);
    CHECK(load_error(client_tls(d, "  auth_clients: optional\n"))
              .rfind("cfg.yaml: tls.ca_file: missing: needed to verify client certificates with tls.auth_clients optional",
                     0) == 0);
    CHECK(load_error(client_tls(d, "  auth_clients: no\n  ca_file: " + missing + "\n")) ==
          "cfg.yaml: tls.ca_file: cannot open \"" + missing + "\": No such file or directory");
    CHECK(load_error(client_tls(d, "  auth_clients: sometimes\n")) ==
          "cfg.yaml: tls.auth_clients: expected no, optional or yes, got \"sometimes\"");
    CHECK(load_error(client_tls(d, "  auth_clients: no\n  handshake_timeout: 0s\n")) ==
          "cfg.yaml: tls.handshake_timeout: must be greater than 0, got 0s");
    CHECK(load_error(client_tls(d, "  auth_clients: no\n  certfile: x\n")) == "cfg.yaml: tls.certfile: unknown field");
    CHECK(load_error("tls:\n  cert_file: " + d.file("server.crt") + "\n").rfind("cfg.yaml: tls.listen: missing", 0) == 0);
    CHECK(load_error("listen: 127.0.0.1:6390\n" + client_tls(d, "  auth_clients: no\n"))
              .rfind("cfg.yaml: tls.listen: same address as listen (127.0.0.1:6390)", 0) == 0);
    CHECK(load_error("admin:\n  listen: 127.0.0.1:6390\n" + client_tls(d, "  auth_clients: no\n")) ==
          "cfg.yaml: tls.listen: same address as admin.listen (127.0.0.1:6390)");
}

TEST_CASE("listen: off serves TLS clients only, and only with tls.listen", "[config][tls]") {
    pem_dir d;
    config cfg = load_ok("listen: \"off\"\n" + client_tls(d, "  auth_clients: no\n"));
    CHECK_FALSE(cfg.listen_enabled);
    CHECK(cfg.tls.enabled());
    // With the plain listener off, admin may take its old address.
    CHECK(load_error("listen: \"off\"\nadmin:\n  listen: 127.0.0.1:6380\n" + client_tls(d, "  auth_clients: no\n")) ==
          "(accepted)");
    CHECK(load_error("listen: off\n") ==
          "cfg.yaml: listen: is off but tls.listen is not set: no listener would accept clients");
}

TEST_CASE("redis.tls: enabled, CA, client certificate, server name, verify", "[config][tls]") {
    pem_dir d;
    config cfg = load_ok("redis:\n  address: redis.internal:6380\n  tls:\n    enabled: true\n    ca_file: " +
                         d.file("ca.crt") + "\n    cert_file: " + d.file("client.crt") + "\n    key_file: " +
                         d.file("client.key") + "\n    server_name: redis.example.com\n    verify: false\n");
    CHECK(cfg.redis.tls.enabled);
    CHECK(cfg.redis.tls.ca_file == d.file("ca.crt"));
    CHECK(cfg.redis.tls.cert_file == d.file("client.crt"));
    CHECK(cfg.redis.tls.key_file == d.file("client.key"));
    CHECK(cfg.redis.tls.server_name == "redis.example.com");
    CHECK_FALSE(cfg.redis.tls.verify);
    // No CA: the system's CAs, checked when the context is built.
    CHECK(load_ok("redis:\n  tls: {enabled: true}\n").redis.tls.enabled);
}

TEST_CASE("redis.tls: errors", "[config][tls]") {
    pem_dir d;
    const std::string missing = d.file("missing.crt");
    CHECK(load_error("redis:\n  tls:\n    ca_file: " + d.file("ca.crt") + "\n") ==
          "cfg.yaml: redis.tls.enabled: is false but redis.tls.ca_file is set; set enabled: true");
    CHECK(load_error("redis:\n  tls:\n    enabled: true\n    ca_file: " + missing + "\n") ==
          "cfg.yaml: redis.tls.ca_file: cannot open \"" + missing + "\": No such file or directory");
    CHECK(load_error("redis:\n  tls:\n    enabled: true\n    cert_file: " + d.file("client.crt") + "\n") ==
          "cfg.yaml: redis.tls.key_file: missing (the client certificate's private key, PEM)");
    CHECK(load_error("redis:\n  tls:\n    enabled: true\n    key_file: " + d.file("client.key") + "\n") ==
          "cfg.yaml: redis.tls.cert_file: missing (the client certificate, PEM; needed with key_file)");
    CHECK(load_error("redis:\n  address: unix:/run/redis.sock\n  tls: {enabled: true}\n") ==
          "cfg.yaml: redis.tls.enabled: TLS needs a TCP redis.address, got unix:/run/redis.sock");
    CHECK(load_error("redis:\n  tls: {enabled: true, server_name: \"a b\"}\n") ==
          "cfg.yaml: redis.tls.server_name: invalid character ' ' in \"a b\"");
    CHECK(load_error("redis:\n  tls: {enabled: maybe}\n") ==
          "cfg.yaml: redis.tls.enabled: expected true or false, got \"maybe\"");
    CHECK(load_error("redis:\n  tls: {enabled: true, verfy: false}\n") == "cfg.yaml: redis.tls.verfy: unknown field");
}

TEST_CASE("--tls-listen, HERDGUARD_TLS_LISTEN and --listen off", "[config][tls]") {
    pem_dir d;
    auto yaml = d.file("herdguard.yaml");
    std::ofstream(yaml) << "tls:\n  cert_file: " << d.file("server.crt") << "\n  key_file: " << d.file("server.key")
                        << "\n  auth_clients: no\n";
    fake_env env{{"HERDGUARD_TLS_LISTEN", "127.0.0.1:7000"}};
    const char* argv[] = {"herdguard", "--config", yaml.c_str(), "--listen", "off", nullptr};
    auto parsed = parse_command_line(5, argv, &env);
    REQUIRE(std::holds_alternative<command_line>(parsed));
    const auto& cfg = std::get<command_line>(parsed).cfg;
    CHECK_FALSE(cfg.listen_enabled);
    REQUIRE(cfg.tls.enabled());
    CHECK(cfg.tls.listen->to_string() == "127.0.0.1:7000");

    const char* flag_argv[] = {"herdguard", "--config", yaml.c_str(), "--tls-listen", "127.0.0.1:7001", nullptr};
    auto flagged = parse_command_line(5, flag_argv, &env);
    REQUIRE(std::holds_alternative<command_line>(flagged));
    CHECK(std::get<command_line>(flagged).cfg.tls.listen->to_string() == "127.0.0.1:7001");  // flag > env

    fake_env none{};
    const char* off_argv[] = {"herdguard", "--listen", "off", nullptr};
    auto off = parse_command_line(3, off_argv, &none);
    REQUIRE(std::holds_alternative<config_error>(off));
    CHECK(std::get<config_error>(off).message ==
          "command line: listen: is off but tls.listen is not set: no listener would accept clients");
}
