// The one configuration struct: defaults here, YAML file, then env vars, then flags override.
// Validation reports "FILE: field: problem" and never throws past load_config_file(),
// load_config_text(), validate() or parse_command_line(): each returns its config_error.
#pragma once

#include <cstdint>
#include <optional>
#include <variant>
#include <string>
#include <vector>

#include "herdguard/config/units.h"
#include "herdguard/util/address.h"

namespace herdguard {

// TLS towards Redis (a redis-server started with --tls-port). The certificate is verified by
// default, against ca_file (or the system's CAs) and against server_name, so a connection to
// the wrong server or through a man in the middle fails instead of carrying AUTH and data.
struct redis_tls_config {
    bool enabled = false;
    std::string ca_file;      // CAs that sign Redis's certificate; empty: the system's CAs
    std::string cert_file;    // client certificate, when Redis has tls-auth-clients yes
    std::string key_file;     // its private key (required with cert_file)
    std::string server_name;  // SNI and the name checked in the certificate; empty: the address's host
    bool verify = true;       // false: accept any certificate (tests only: no protection at all)
};

// A whole Redis Cluster instead of one Redis (issue 13). The slot map is learned from whichever
// seed answers first, then kept current. Exclusive with redis.address; off while seeds is empty.
struct redis_cluster_config {
    std::vector<address> seeds;  // any nodes of the cluster, TCP host:port
    duration refresh_interval{10000};  // the slot map is asked for again this often
    int max_redirects = 5;  // MOVED/ASK followed per command before the client gets the error
    bool enabled() const { return !seeds.empty(); }
};

struct redis_config {
    address addr{false, "127.0.0.1", 6379};  // unused with cluster
    std::string username;  // optional (ACL); empty = AUTH <password> form
    std::string password;  // optional AUTH towards Redis; never logged
    int database = 0;
    duration connect_timeout{500};
    duration command_timeout{1000};
    int connections_per_thread = 1;    // shared, pipelined connections per worker thread
    std::uint64_t max_pending = 65536; // queued commands per shared connection before -ERR
    redis_tls_config tls;
    redis_cluster_config cluster;
};

struct limits_config {
    std::uint64_t max_clients = 10000;
    std::uint64_t max_request_bytes = 512ull << 20;    // Redis's proto-max-bulk-len
    std::uint64_t max_array_length = 1024ull * 1024;   // elements in one multibulk request
    std::uint64_t max_inline_bytes = 64ull << 10;      // Redis's PROTO_INLINE_MAX_SIZE
    std::uint64_t client_output_buffer = 64ull << 20;  // beyond it the client is disconnected
    duration client_timeout{0};                        // idle timeout; 0 = off, like Redis
};

struct breaker_config {
    duration window{10000};
    int min_calls = 5;
    double failure_rate = 0.5;
    duration open_for{5000};
    int half_open_probes = 1;
    friend bool operator==(const breaker_config&, const breaker_config&) = default;
};

struct route_config {
    std::string name;
    std::string match;     // glob on the key; each * is a capture
    std::string upstream;  // "http://host:port/path/{1}"; {1}.. captures, {key} whole key
    duration ttl{60000};
    double ttl_jitter = 0.2;
    duration stale_for{30000};
    duration stale_if_error{300000};
    duration negative_ttl{5000};
    // A failed load is remembered this long across the fleet: reads in that time get stale data
    // or the error without a new load (failed refreshes back off instead of retrying per read).
    // 0 = new reads load again; flights already waiting on the failed lease still get the
    // failure (read_through.cpp: remember_failure).
    duration error_ttl{1000};
    duration lock_ttl{5000};
    duration load_timeout{2000};
    duration wait_timeout{3000};
    std::uint64_t max_waiters = 10000;
    std::uint64_t max_concurrent_loads = 64;
    std::uint64_t max_value_bytes = 64ull << 20;
    bool protect = true;  // false: plain cache-aside, every miss loads (for benchmarks)
    breaker_config breaker;
    // Early refresh (XFetch: Vattani, Chierichetti, Lowenstein, VLDB 2015): a read of a fresh
    // value with `r` of its fresh life left starts one background refresh when
    // delta * beta * -ln(U) >= r (delta: the route's load time, U uniform on (0,1]). 0 = off.
    double early_refresh_beta = 0.0;
    // L1: an in-process cache of this route's values in front of the Redis read, kept coherent
    // by CLIENT TRACKING (herd/l1_cache.h). l1_max_bytes 0 = off.
    std::uint64_t l1_max_bytes = 0;
    duration l1_max_age{5000};  // caps every entry, whatever its Redis TTL
    bool l1_admit_hot = true;   // admit: hot (only keys read >= l1_hot_reads_per_second) | all
    double l1_hot_reads_per_second = 100;
    friend bool operator==(const route_config&, const route_config&) = default;
};

// Client authentication, like Redis's requirepass and ACL users. Empty password and no users:
// off (AUTH then goes to Redis, as without a proxy). Never logged; HERDGUARD CONFIG masks it.
struct auth_user {
    std::string name;
    std::string password;
    friend bool operator==(const auth_user&, const auth_user&) = default;
};
struct auth_config {
    std::string password;         // AUTH <password> (the "default" user)
    std::vector<auth_user> users; // AUTH <user> <password>
    bool enabled() const { return !password.empty() || !users.empty(); }
};

// TLS towards clients: a second listener beside the plain one, as Redis has tls-port beside
// port (`listen: off` then plays the part of Redis's `port 0`). Off while `listen` is unset.
enum class tls_auth_clients { no, optional, yes };  // as Redis's tls-auth-clients
struct tls_config {
    std::optional<address> listen;  // the TLS listener; unset = no TLS towards clients
    std::string cert_file;          // server certificate (PEM, chain allowed)
    std::string key_file;           // its private key (PEM)
    std::string ca_file;            // CAs that sign client certificates (auth_clients yes/optional)
    // Redis's default is yes: a client needs a certificate signed by ca_file.
    tls_auth_clients auth_clients = tls_auth_clients::yes;
    duration handshake_timeout{5000};  // a client that does not finish the handshake is dropped
    bool enabled() const { return listen.has_value(); }
};

struct admin_config {
    address listen{false, "127.0.0.1", 9121};
    bool enabled = true;
    // The top keys as a /metrics gauge labelled by key name: off by default, since key names can
    // be personal data and each new key is a new series. HERDGUARD HOTKEYS shows them either way.
    bool hot_keys_in_metrics = false;
};

struct config {
    std::string source;  // the file it came from ("" when none)
    address listen{false, "127.0.0.1", 6380};
    bool listen_enabled = true;  // "listen: off": TLS clients only (as Redis's port 0)
    int threads = 1;
    std::string log_level = "info";  // trace, debug, info, warn, error, off
    std::string log_format = "text"; // text | json
    duration shutdown_timeout{10000};
    redis_config redis;
    limits_config limits;
    admin_config admin;
    auth_config auth;
    tls_config tls;
    std::vector<route_config> routes;
};

struct config_error {
    std::string message;  // "FILE: field: problem"
};

// What main() should do after parsing the command line.
struct command_line {
    config cfg;
    bool check_only = false;  // --check: validate and exit
    bool show_help = false;   // --help was printed already
    bool show_version = false;  // --version: nothing printed; main prints it and exits 0
};

// Parses argv (flags: --config, --check, --listen, --tls-listen, --redis, --threads, --log-level, --log-format,
// --version, --admin ADDR|off) and env (HERDGUARD_CONFIG, HERDGUARD_LISTEN, HERDGUARD_TLS_LISTEN, HERDGUARD_REDIS, HERDGUARD_THREADS,
// HERDGUARD_LOG_LEVEL, HERDGUARD_LOG_FORMAT, HERDGUARD_ADMIN, and, for secrets, env only:
// HERDGUARD_REDIS_PASSWORD, HERDGUARD_AUTH_PASSWORD). Precedence:
// flag > env > file > default. On error returns the message to print and exit(2) with.
// `env` is injectable for tests; nullptr means the process environment.
struct env_lookup {
    virtual ~env_lookup() = default;
    virtual std::optional<std::string> get(const std::string& name) const = 0;
};
std::variant<command_line, config_error> parse_command_line(int argc, const char* const* argv,
                                                            const env_lookup* env = nullptr);

// Loads and validates a YAML file into `cfg` (fields absent from the file keep their values).
std::optional<config_error> load_config_file(const std::string& path, config& cfg);
// Same, from YAML text; `source` names it in errors.
std::optional<config_error> load_config_text(const std::string& text, const std::string& source,
                                             config& cfg);
// Cross-field validation (ranges, routes' templates and globs, unique route names, TLS files
// that exist and can be read: their contents are checked when the TLS contexts are built).
std::optional<config_error> validate(const config& cfg);

}  // namespace herdguard
