// RESP3 through herdguard (issue 11): after HELLO 3 a client gets exactly what Redis 7 sends to
// a RESP3 connection, byte for byte; herdguard's own replies are in the client's protocol; pushes
// (pub/sub, CLIENT TRACKING) reach the client that asked, between its replies; RESET goes back to
// RESP2; and the handshakes current clients send at connect cost no private Redis connection.
#include <thread>

#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

// redis-server with DEBUG PROTOCOL allowed (it writes every RESP3 type on demand), and herdguard.
herdguard_options with_admin() {
    herdguard_options o;
    o.admin = "auto";
    return o;
}

struct resp3_stack {
    temp_dir dir;
    redis_server redis{dir, "", {"--enable-debug-command", "yes"}};
    herdguard_proc proxy{dir, redis.port(), with_admin()};
};

long long private_connections(std::uint16_t proxy_port) {
    return herdguard_counter(proxy_port, "redis_private_connections");
}

// Waits (bounded) until the gauge reads `want`: a session lets its private connection go when it
// has seen the client hang up, a moment after the client closed.
bool private_connections_become(std::uint16_t proxy_port, long long want) {
    for (int i = 0; i < 400; ++i) {
        if (private_connections(proxy_port) == want) return true;
        std::this_thread::sleep_for(5ms);
    }
    return false;
}

}  // namespace

TEST_CASE("RESP3: after HELLO 3 every reply is Redis's own RESP3 reply, byte for byte", "[integration][resp3]") {
    resp3_stack s;
    raw_conn direct(s.redis.port());
    raw_conn proxy(s.proxy.port());
    const std::string hello_direct = direct.ask({"HELLO", "3"});
    const std::string hello_proxy = proxy.ask({"HELLO", "3"});
    // A map of 7: server, version, proto 3, id (a connection's own), mode, role, modules.
    CHECK(hello_proxy.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0) == 0);
    CHECK(hello_proxy.find("$5\r\nproto\r\n:3\r\n") != std::string::npos);
    CHECK(hello_direct.substr(0, hello_direct.find("$2\r\nid\r\n")) ==
          hello_proxy.substr(0, hello_proxy.find("$2\r\nid\r\n")));

    // Writes once, through herdguard; then the reads, compared with Redis's own.
    CHECK(proxy.ask({"SET", "k", "v"}) == "+OK\r\n");
    CHECK(proxy.ask({"HSET", "h", "a", "1", "b", "2"}) == ":2\r\n");
    CHECK(proxy.ask({"SADD", "s", "x"}) == ":1\r\n");
    CHECK(proxy.ask({"ZADD", "z", "1.5", "m"}) == ":1\r\n");
    const std::vector<std::vector<std::string>> commands = {
        {"GET", "k"},
        {"GET", "missing"},  // _
        {"MGET", "k", "missing"},
        {"HGETALL", "h"},  // %2
        {"SMEMBERS", "s"},  // ~1
        {"ZSCORE", "z", "m"},  // ,1.5
        {"ZRANGE", "z", "0", "-1", "WITHSCORES"},
        {"CONFIG", "GET", "maxmemory"},  // a map
        {"EVAL", "redis.setresp(3); return {double=3.5}", "0"},
        {"EVAL", "redis.setresp(3); return true", "0"},  // #t
        {"DEBUG", "PROTOCOL", "string"},
        {"DEBUG", "PROTOCOL", "integer"},
        {"DEBUG", "PROTOCOL", "double"},
        {"DEBUG", "PROTOCOL", "bignum"},  // (
        {"DEBUG", "PROTOCOL", "null"},
        {"DEBUG", "PROTOCOL", "array"},
        {"DEBUG", "PROTOCOL", "set"},
        {"DEBUG", "PROTOCOL", "map"},
        {"DEBUG", "PROTOCOL", "attrib"},  // |1 ... and the reply it annotates
        {"DEBUG", "PROTOCOL", "verbatim"},  // =
        {"DEBUG", "PROTOCOL", "true"},
        {"DEBUG", "PROTOCOL", "false"},
        {"OBJECT", "ENCODING", "missing"},  // _
        {"HGET", "h", "nope"},
        {"LPOP", "nolist"},
        {"XRANGE", "nostream", "-", "+"},
    };
    for (const auto& cmd : commands) {
        std::string line;
        for (const auto& a : cmd) line += a + " ";
        INFO(line);
        const std::string want = direct.ask(cmd);
        REQUIRE_FALSE(want.empty());
        CHECK(proxy.ask(cmd) == want);
    }
    // INFO is a verbatim string in RESP3; herdguard's section is inside it.
    const std::string info = proxy.ask({"INFO"});
    CHECK(info.rfind("=", 0) == 0);
    CHECK(info.find("txt:# Server") != std::string::npos);
    CHECK(info.find("# Herdguard") != std::string::npos);
    // The RESP2 client beside it still gets RESP2.
    raw_conn resp2(s.proxy.port());
    CHECK(resp2.ask({"GET", "missing"}) == "$-1\r\n");
    CHECK(resp2.ask({"HGETALL", "h"}).rfind("*4\r\n", 0) == 0);
    CHECK(private_connections(s.proxy.port()) == 0);
}

TEST_CASE("RESP3: herdguard's own replies are in the client's protocol", "[integration][resp3]") {
    resp3_stack s;
    raw_conn c(s.proxy.port());
    CHECK(c.ask({"CLIENT", "GETNAME"}) == "$-1\r\n");
    CHECK(c.ask({"HELLO", "4"}) == "-NOPROTO unsupported protocol version\r\n");
    CHECK(c.ask({"HELLO", "3", "BOGUS"}) == "-ERR Syntax error in HELLO option 'BOGUS'\r\n");
    CHECK(c.ask({"HELLO", "3", "SETNAME", "bad name"}) ==
          "-ERR Client names cannot contain spaces, newlines or special characters.\r\n");
    CHECK(c.ask({"CLIENT", "GETNAME"}) == "$-1\r\n");  // refused HELLOs changed nothing
    CHECK(c.ask({"HELLO", "3", "SETNAME", "app-1"}).rfind("%7\r\n", 0) == 0);
    CHECK(c.ask({"CLIENT", "GETNAME"}) == "$5\r\napp-1\r\n");
    CHECK(c.ask({"CLIENT", "SETNAME", "app-2"}) == "+OK\r\n");
    CHECK(c.ask({"PING"}) == "+PONG\r\n");
    CHECK(c.ask({"ECHO", "hi"}) == "$2\r\nhi\r\n");
    CHECK(c.ask({"INFO", "herdguard"}).rfind("=", 0) == 0);
    CHECK(c.ask({"HERDGUARD", "CONFIG"}).rfind("%", 0) == 0);
    CHECK(c.ask({"READONLY"}) == "-ERR This instance has cluster support disabled\r\n");
    CHECK(c.ask({"SELECT", "0"}) == "+OK\r\n");
    // The name stayed with the client: no shared connection was renamed.
    raw_conn direct(s.redis.port());
    CHECK(direct.ask({"CLIENT", "LIST"}).find("name=app") == std::string::npos);
    CHECK(private_connections(s.proxy.port()) == 0);
    // A RESP2 client's null name is RESP2's.
    raw_conn resp2(s.proxy.port());
    CHECK(resp2.ask({"CLIENT", "GETNAME"}) == "$-1\r\n");
}

TEST_CASE("RESP3: pub/sub pushes interleave with replies, and ordinary commands work while subscribed",
          "[integration][resp3]") {
    resp3_stack s;
    raw_conn sub(s.proxy.port());
    raw_conn pub(s.proxy.port());
    REQUIRE(sub.ask({"HELLO", "3"}).rfind("%7", 0) == 0);
    REQUIRE(pub.ask({"SET", "k", "v"}) == "+OK\r\n");
    CHECK(sub.ask({"SUBSCRIBE", "ch"}) == ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    CHECK(sub.ask({"PSUBSCRIBE", "p*"}) == ">3\r\n$10\r\npsubscribe\r\n$2\r\np*\r\n:2\r\n");
    CHECK(pub.ask({"PUBLISH", "ch", "hello"}) == ":1\r\n");
    CHECK(sub.read_reply(5s) == ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhello\r\n");
    CHECK(pub.ask({"PUBLISH", "px", "hi"}) == ":1\r\n");
    CHECK(sub.read_reply(5s) == ">4\r\n$8\r\npmessage\r\n$2\r\np*\r\n$2\r\npx\r\n$2\r\nhi\r\n");
    // RESP3 allows any command while subscribed; its replies come between the pushes.
    CHECK(sub.ask({"GET", "k"}) == "$1\r\nv\r\n");
    CHECK(sub.ask({"PING"}) == "+PONG\r\n");
    CHECK(pub.ask({"PUBLISH", "ch", "again"}) == ":1\r\n");
    CHECK(sub.read_reply(5s) == ">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nagain\r\n");
    CHECK(sub.ask({"UNSUBSCRIBE", "ch"}) == ">3\r\n$11\r\nunsubscribe\r\n$2\r\nch\r\n:1\r\n");
}

TEST_CASE("CLIENT TRACKING: RESP3 invalidation pushes and RESP2 REDIRECT reach the client that asked",
          "[integration][resp3]") {
    resp3_stack s;
    raw_conn writer(s.proxy.port());
    REQUIRE(writer.ask({"SET", "t1", "a"}) == "+OK\r\n");
    REQUIRE(writer.ask({"SET", "t2", "a"}) == "+OK\r\n");

    // RESP3, default mode: the invalidation is a push on the tracking client's own connection.
    raw_conn tracked(s.proxy.port());
    REQUIRE(tracked.ask({"HELLO", "3"}).rfind("%7", 0) == 0);
    CHECK(tracked.ask({"CLIENT", "TRACKING", "ON"}) == "+OK\r\n");
    CHECK(tracked.ask({"GET", "t1"}) == "$1\r\na\r\n");
    CHECK(writer.ask({"SET", "t1", "b"}) == "+OK\r\n");
    CHECK(tracked.read_reply(5s) == ">2\r\n$10\r\ninvalidate\r\n*1\r\n$2\r\nt1\r\n");
    CHECK(tracked.ask({"GET", "t1"}) == "$1\r\nb\r\n");  // and its replies go on as before

    // RESP2: REDIRECT to a subscriber of __redis__:invalidate, by its client id.
    raw_conn listener(s.proxy.port());
    const std::string id_reply = listener.ask({"CLIENT", "ID"});
    REQUIRE(id_reply.rfind(":", 0) == 0);
    const std::string id = id_reply.substr(1, id_reply.size() - 3);
    CHECK(listener.ask({"SUBSCRIBE", "__redis__:invalidate"}).rfind("*3\r\n$9\r\nsubscribe\r\n", 0) == 0);
    raw_conn redirected(s.proxy.port());
    CHECK(redirected.ask({"CLIENT", "TRACKING", "ON", "REDIRECT", id}) == "+OK\r\n");
    CHECK(redirected.ask({"GET", "t2"}) == "$1\r\na\r\n");
    CHECK(writer.ask({"SET", "t2", "b"}) == "+OK\r\n");
    CHECK(listener.read_reply(5s) == "*3\r\n$7\r\nmessage\r\n$20\r\n__redis__:invalidate\r\n*1\r\n$2\r\nt2\r\n");
}

TEST_CASE("RESP3: RESET takes the client back to RESP2, also from a subscription", "[integration][resp3]") {
    resp3_stack s;
    raw_conn c(s.proxy.port());
    REQUIRE(c.ask({"HELLO", "3"}).rfind("%7", 0) == 0);
    CHECK(c.ask({"GET", "missing"}) == "_\r\n");
    CHECK(c.ask({"RESET"}) == "+RESET\r\n");
    CHECK(c.ask({"GET", "missing"}) == "$-1\r\n");
    CHECK(c.ask({"CLIENT", "GETNAME"}) == "$-1\r\n");

    raw_conn sub(s.proxy.port());
    REQUIRE(sub.ask({"HELLO", "3"}).rfind("%7", 0) == 0);
    CHECK(sub.ask({"SUBSCRIBE", "ch"}) == ">3\r\n$9\r\nsubscribe\r\n$2\r\nch\r\n:1\r\n");
    CHECK(sub.ask({"RESET"}) == "+RESET\r\n");
    CHECK(sub.ask({"GET", "missing"}) == "$-1\r\n");
    CHECK(sub.ask({"HGETALL", "nohash"}) == "*0\r\n");
}

// The connect handshakes of current clients, as they send them (pipelined), then idle: herdguard
// answers all of it without a private Redis connection, and keeps none.
TEST_CASE("the connect handshakes of current clients cost no private connection", "[integration][resp3]") {
    resp3_stack s;
    using cmds = std::vector<std::vector<std::string>>;
    const std::vector<std::pair<std::string, cmds>> handshakes = {
        {"ioredis 6 (RESP3 attempt)",
         {{"HELLO", "3"}, {"CLIENT", "SETNAME", "app"}, {"CLIENT", "SETINFO", "LIB-VER", "6.1.0"},
          {"CLIENT", "SETINFO", "LIB-NAME", "ioredis"},
          {"CLIENT", "MAINT_NOTIFICATIONS", "ON", "moving-endpoint-type", "internal-ip"}}},
        {"redis-py", {{"CLIENT", "SETNAME", "app"}, {"CLIENT", "SETINFO", "LIB-NAME", "redis-py"},
                      {"CLIENT", "SETINFO", "LIB-VER", "5.0.0"}, {"SELECT", "0"}}},
        {"node-redis 5 (RESP3)", {{"HELLO", "3", "SETNAME", "app"}, {"CLIENT", "SETINFO", "LIB-NAME", "node-redis"},
                                  {"CLIENT", "SETINFO", "LIB-VER", "5.0.0"}}},
        {"go-redis 9", {{"HELLO", "3"}, {"CLIENT", "SETINFO", "LIB-NAME", "go-redis(,go1.22)"},
                        {"CLIENT", "SETINFO", "LIB-VER", "9.7.0"}, {"CLIENT", "SETNAME", "app"}}},
        {"Lettuce 6", {{"HELLO", "3", "SETNAME", "app"}, {"CLIENT", "SETINFO", "lib-name", "Lettuce"},
                       {"CLIENT", "SETINFO", "lib-ver", "6.5.0"}}},
        {"Jedis 5", {{"CLIENT", "SETNAME", "app"}, {"CLIENT", "SETINFO", "LIB-NAME", "jedis"},
                     {"CLIENT", "SETINFO", "LIB-VER", "5.2.0"}}},
        {"rueidis (cache disabled)", {{"HELLO", "3"}, {"CLIENT", "SETINFO", "LIB-NAME", "rueidis"},
                                      {"CLIENT", "SETINFO", "LIB-VER", "1.0.50"}, {"CLIENT", "NO-EVICT", "OFF"},
                                      {"CLIENT", "NO-TOUCH", "OFF"}, {"READONLY"}}},
    };
    std::vector<std::unique_ptr<raw_conn>> idle;
    for (const auto& [who, commands] : handshakes) {
        INFO(who);
        auto c = std::make_unique<raw_conn>(s.proxy.port());
        std::string batch;
        for (const auto& cmd : commands) batch += encode_command(cmd);
        REQUIRE(c->send(batch));
        for (std::size_t i = 0; i < commands.size(); ++i) CHECK_FALSE(c->read_reply(5s).empty());
        CHECK(c->ask({"PING"}) == "+PONG\r\n");
        idle.push_back(std::move(c));
    }
    CHECK(private_connections(s.proxy.port()) == 0);
    CHECK(s.proxy.running());
    // The gauge counts what clients hold: a WATCH takes one, a hang-up gives it back.
    {
        raw_conn watcher(s.proxy.port());
        CHECK(watcher.ask({"WATCH", "k"}) == "+OK\r\n");
        CHECK(private_connections(s.proxy.port()) == 1);
    }
    CHECK(private_connections_become(s.proxy.port(), 0));
    const std::string metrics = http_get(s.proxy.admin_port(), "/metrics").body;
    CHECK(metrics.find("\nherdguard_redis_private_connections 0\n") != std::string::npos);
}

TEST_CASE("HELLO switches the protocol only when Redis takes it", "[integration][resp3]") {
    resp3_stack s;
    raw_conn c(s.proxy.port());
    // AUTH for Redis that fails: Redis stays RESP2 on that connection, and so does the client.
    CHECK(c.ask({"HELLO", "3", "AUTH", "nobody", "wrong"}).rfind("-WRONGPASS", 0) == 0);
    CHECK(c.ask({"GET", "missing"}) == "$-1\r\n");
    // Inside MULTI it is only queued; DISCARD leaves the client on RESP2.
    raw_conn m(s.proxy.port());
    CHECK(m.ask({"MULTI"}) == "+OK\r\n");
    CHECK(m.ask({"HELLO", "3"}) == "+QUEUED\r\n");
    CHECK(m.ask({"READONLY"}) == "+QUEUED\r\n");  // the client's own connection: Redis queues it
    CHECK(m.ask({"DISCARD"}) == "+OK\r\n");
    CHECK(m.ask({"GET", "missing"}) == "$-1\r\n");
    // Pipelined right behind HELLO 3, a command is answered in RESP3.
    raw_conn p(s.proxy.port());
    REQUIRE(p.send(encode_command({"HELLO", "3"}) + encode_command({"GET", "missing"}) +
                   encode_command({"CLIENT", "GETNAME"})));
    CHECK(p.read_reply(5s).rfind("%7", 0) == 0);
    CHECK(p.read_reply(5s) == "_\r\n");
    CHECK(p.read_reply(5s) == "_\r\n");
}

TEST_CASE("UNSUBSCRIBE without subscriptions is Redis's answer and keeps the shared connection in step",
          "[integration][resp3]") {
    resp3_stack s;
    raw_conn direct(s.redis.port());
    raw_conn c(s.proxy.port());
    raw_conn other(s.proxy.port());
    REQUIRE(other.ask({"SET", "k", "v"}) == "+OK\r\n");
    for (const std::vector<std::string>& cmd : {std::vector<std::string>{"UNSUBSCRIBE", "a", "b"},
                                               {"UNSUBSCRIBE"}, {"PUNSUBSCRIBE", "p*"}, {"SUNSUBSCRIBE", "s"}}) {
        INFO(cmd[0] << " " << cmd.size());
        const std::size_t replies = std::max<std::size_t>(1, cmd.size() - 1);
        REQUIRE(direct.send(encode_command(cmd)));
        REQUIRE(c.send(encode_command(cmd)));
        for (std::size_t i = 0; i < replies; ++i) CHECK(c.read_reply(5s) == direct.read_reply(5s));
        CHECK(c.ask({"GET", "k"}) == "$1\r\nv\r\n");  // in step
        CHECK(other.ask({"GET", "k"}) == "$1\r\nv\r\n");
    }
    REQUIRE(direct.ask({"HELLO", "3"}).rfind("%7", 0) == 0);
    REQUIRE(c.ask({"HELLO", "3"}).rfind("%7", 0) == 0);
    REQUIRE(direct.send(encode_command({"UNSUBSCRIBE", "a"})));
    REQUIRE(c.send(encode_command({"UNSUBSCRIBE", "a"})));
    CHECK(c.read_reply(5s) == direct.read_reply(5s));  // a push in RESP3
    CHECK(c.ask({"GET", "k"}) == "$1\r\nv\r\n");
    CHECK(private_connections(s.proxy.port()) == 0);
}

TEST_CASE("RESP3: a routed GET and MGET answer in the client's protocol", "[integration][resp3][herd]") {
    route_options route;
    herd_stack stack(route);
    raw_conn c(stack.proxy().port());
    REQUIRE(c.ask({"HELLO", "3"}).rfind("%7", 0) == 0);
    const std::string value = c.ask({"GET", "product:1"});
    CHECK(value.rfind("$", 0) == 0);  // loaded from the demo upstream
    CHECK(c.ask({"GET", "product:1"}) == value);
    CHECK(c.ask({"GET", "product:missing-r3"}) == "_\r\n");  // the upstream's 404
    CHECK(c.ask({"GET", "product:missing-r3"}) == "_\r\n");  // remembered for negative_ttl
    CHECK(c.ask({"MGET", "product:1", "product:missing-r3", "plain"}) == "*3\r\n" + value + "_\r\n_\r\n");
    raw_conn resp2(stack.proxy().port());
    CHECK(resp2.ask({"GET", "product:missing-r3"}) == "$-1\r\n");
    CHECK(resp2.ask({"MGET", "product:1", "product:missing-r3"}) == "*2\r\n" + value + "$-1\r\n");

    // A tracking client reads routed keys on its tracked connection, so it hears of their changes.
    raw_conn tracked(stack.proxy().port());
    REQUIRE(tracked.ask({"HELLO", "3"}).rfind("%7", 0) == 0);
    CHECK(tracked.ask({"CLIENT", "TRACKING", "ON"}) == "+OK\r\n");
    CHECK(tracked.ask({"GET", "product:1"}) == value);
    CHECK(resp2.ask({"SET", "product:1", "changed"}) == "+OK\r\n");
    CHECK(tracked.read_reply(5s) == ">2\r\n$10\r\ninvalidate\r\n*1\r\n$9\r\nproduct:1\r\n");
    CHECK(tracked.ask({"GET", "product:1"}) == "$7\r\nchanged\r\n");
}

// A client that authenticates as herdguard's shared connections already are (redis.password)
// gains nothing from a private connection: AUTH and HELLO ... AUTH are answered without one.
TEST_CASE("AUTH with the shared connections' own credentials costs no private connection", "[integration][resp3]") {
    temp_dir dir;
    redis_server redis(dir, "pw-1");
    herdguard_options o;
    o.config_yaml = "redis:\n  password: pw-1\n";
    herdguard_proc proxy(dir, redis.port(), o);
    raw_conn c(proxy.port());
    CHECK(c.ask({"AUTH", "pw-1"}) == "+OK\r\n");
    CHECK(c.ask({"AUTH", "default", "pw-1"}) == "+OK\r\n");
    CHECK(c.ask({"HELLO", "3", "AUTH", "default", "pw-1", "SETNAME", "app"}).rfind("%7", 0) == 0);
    CHECK(c.ask({"CLIENT", "GETNAME"}) == "$3\r\napp\r\n");
    CHECK(c.ask({"GET", "missing"}) == "_\r\n");
    CHECK(private_connections(proxy.port()) == 0);
    // Other credentials are Redis's business, on a connection of the client's own.
    raw_conn d(proxy.port());
    CHECK(d.ask({"AUTH", "wrong"}).rfind("-WRONGPASS", 0) == 0);
    CHECK(private_connections(proxy.port()) == 1);
}

// Once a client has a connection of its own, its AUTH re-authenticates that connection (or is
// queued in its transaction): it is never answered locally, even with the shared credentials.
TEST_CASE("AUTH on a client's own connection always reaches Redis", "[integration][resp3]") {
    temp_dir dir;
    redis_server redis(dir, "pw-1");
    raw_conn admin(redis.port());
    REQUIRE(admin.ask({"AUTH", "pw-1"}) == "+OK\r\n");
    REQUIRE(admin.ask({"ACL", "SETUSER", "reader", "on", ">pw-2", "~*", "+@all", "-get"}) == "+OK\r\n");
    herdguard_options o;
    o.config_yaml = "redis:\n  password: pw-1\n";
    herdguard_proc proxy(dir, redis.port(), o);

    raw_conn c(proxy.port());
    CHECK(c.ask({"AUTH", "reader", "pw-2"}) == "+OK\r\n");  // another user: a private connection
    CHECK(private_connections(proxy.port()) == 1);
    CHECK(c.ask({"GET", "k"}).rfind("-NOPERM", 0) == 0);
    // Back to the shared user: Redis must hear it, or the private connection stays "reader".
    CHECK(c.ask({"AUTH", "pw-1"}) == "+OK\r\n");
    CHECK(c.ask({"GET", "k"}) == "$-1\r\n");

    raw_conn t(proxy.port());
    CHECK(t.ask({"MULTI"}) == "+OK\r\n");
    CHECK(t.ask({"AUTH", "pw-1"}) == "+QUEUED\r\n");
    CHECK(t.ask({"EXEC"}) == "*1\r\n+OK\r\n");
}
