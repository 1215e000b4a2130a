// Client authentication (auth.password / auth.users): Redis's replies, nothing forwarded before
// authentication, and passwords never in the log.
#include <catch2/catch.hpp>

#include "harness.h"

using namespace herdguard::test;

namespace {

herdguard_options auth_options() {
    herdguard_options o;
    o.log_level = "trace";  // the most verbose level must still never print a password
    o.auth_password = "s3cret-pw";
    o.config_yaml =
        "auth:\n"
        "  password: s3cret-pw\n"
        "  users:\n"
        "    - {name: app, password: app-pw}\n";
    return o;
}

}  // namespace

TEST_CASE("until AUTH every command but AUTH, HELLO AUTH, QUIT and RESET gets -NOAUTH", "[integration][auth]") {
    temp_dir dir;
    redis_server redis(dir);
    herdguard_proc hg(dir, redis.port(), auth_options());
    client direct(redis.port());
    direct.cmd({"SET", "guarded", "v"});

    client c(hg.port());
    REQUIRE(c.cmd({"GET", "guarded"}) == "-NOAUTH Authentication required.");
    REQUIRE(c.cmd({"SET", "guarded", "changed"}) == "-NOAUTH Authentication required.");
    REQUIRE(c.cmd({"PING"}) == "-NOAUTH Authentication required.");
    REQUIRE(direct.cmd({"GET", "guarded"}) == "$v");  // nothing reached Redis
    REQUIRE(c.cmd({"HELLO"}).rfind("-NOAUTH HELLO must be called with the client already authenticated", 0) == 0);
    REQUIRE(c.cmd({"RESET"}) == "+RESET");  // Redis answers RESET before AUTH too
    REQUIRE(c.cmd({"GET", "guarded"}) == "-NOAUTH Authentication required.");

    REQUIRE(c.cmd({"AUTH", "wrong"}) == "-WRONGPASS invalid username-password pair or user is disabled.");
    REQUIRE(c.cmd({"AUTH", "app", "s3cret-pw"}) ==  // the default user's password is not app's
            "-WRONGPASS invalid username-password pair or user is disabled.");
    REQUIRE(c.cmd({"GET", "guarded"}) == "-NOAUTH Authentication required.");
    REQUIRE(c.cmd({"AUTH", "s3cret-pw"}) == "+OK");
    REQUIRE(c.cmd({"GET", "guarded"}) == "$v");
    // A failed AUTH afterwards keeps the earlier authentication, as in Redis 6+.
    REQUIRE(c.cmd({"AUTH", "wrong"}) == "-WRONGPASS invalid username-password pair or user is disabled.");
    REQUIRE(c.cmd({"GET", "guarded"}) == "$v");
    // RESET returns to the unauthenticated state.
    REQUIRE(c.cmd({"RESET"}) == "+RESET");
    REQUIRE(c.cmd({"GET", "guarded"}) == "-NOAUTH Authentication required.");

    client u(hg.port());
    REQUIRE(u.cmd({"AUTH", "app", "app-pw"}) == "+OK");
    REQUIRE(u.cmd({"GET", "guarded"}) == "$v");

    client h(hg.port());
    std::string hello = h.cmd({"HELLO", "2", "AUTH", "app", "app-pw"});
    REQUIRE(hello.rfind("*[", 0) == 0);
    REQUIRE(hello.find("$server") != std::string::npos);
    REQUIRE(h.cmd({"GET", "guarded"}) == "$v");
    client bad(hg.port());
    REQUIRE(bad.cmd({"HELLO", "2", "AUTH", "app", "nope"}) ==
            "-WRONGPASS invalid username-password pair or user is disabled.");
    REQUIRE(bad.cmd({"GET", "guarded"}) == "-NOAUTH Authentication required.");

    raw_conn q(hg.port());
    REQUIRE(q.send("QUIT\r\n"));
    REQUIRE(q.read_reply() == "+OK\r\n");

    // HERDGUARD CONFIG masks the secrets; the log never holds them, even at trace level.
    std::string cfg = u.cmd({"HERDGUARD", "CONFIG"});
    REQUIRE(cfg.find("s3cret-pw") == std::string::npos);
    REQUIRE(cfg.find("app-pw") == std::string::npos);
    REQUIRE(cfg.find("********") != std::string::npos);
    hg.stop();
    std::string log = hg.log_tail(1 << 20);
    REQUIRE(!log.empty());
    REQUIRE(log.find("s3cret-pw") == std::string::npos);
    REQUIRE(log.find("app-pw") == std::string::npos);
}

TEST_CASE("redis-cli authenticates with -a and --user/--pass", "[integration][auth]") {
    temp_dir dir;
    redis_server redis(dir);
    herdguard_proc hg(dir, redis.port(), auth_options());
    auto port = std::to_string(hg.port());
    auto ok = run_command({"redis-cli", "-p", port, "-a", "s3cret-pw", "--no-auth-warning", "SET", "k", "1"}, 5s);
    REQUIRE(ok.out.find("OK") != std::string::npos);
    auto user = run_command({"redis-cli", "-p", port, "--user", "app", "--pass", "app-pw", "--no-auth-warning", "GET", "k"}, 5s);
    REQUIRE(user.out.find("1") != std::string::npos);
    auto none = run_command({"redis-cli", "-p", port, "GET", "k"}, 5s);
    REQUIRE(none.out.find("NOAUTH") != std::string::npos);
}
