// CLIENT LIST, CLIENT INFO and CLIENT KILL through herdguard (issue 22): its clients are listed as
// Redis lists its own (name, address, id, database), herdguard's connections are not, two
// instances in front of one Redis list each other's clients, CLIENT KILL reaches a client of
// either, and a malformed CLIENT KILL gets Redis's own error.
#include <algorithm>

#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

// The lines of a CLIENT LIST reply whose name= is `name`.
std::vector<std::string> lines_named(const std::string& list, const std::string& name) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < list.size()) {
        std::size_t end = list.find('\n', at);
        if (end == std::string::npos) end = list.size();
        const std::string line = list.substr(at, end - at);
        at = end + 1;
        if (line.find(" name=" + name + " ") != std::string::npos) out.push_back(line);
    }
    return out;
}

// The value of `name=` in a CLIENT LIST line.
std::string field(const std::string& line, const std::string& name) {
    std::size_t at = line.rfind(name + "=", 0) == 0 ? 0 : line.find(" " + name + "=");
    if (at == std::string::npos) return "";
    at = line.find('=', at) + 1;
    return line.substr(at, line.find(' ', at) - at);
}

std::vector<std::string> all_lines(const std::string& list) {
    std::vector<std::string> out;
    std::size_t at = 0;
    while (at < list.size()) {
        std::size_t end = list.find('\n', at);
        if (end == std::string::npos) end = list.size();
        if (end > at) out.push_back(list.substr(at, end - at));
        at = end + 1;
    }
    return out;
}

std::string client_list(client& c) { return c.cmd_reply({"CLIENT", "LIST"}).str; }

}  // namespace

TEST_CASE("CLIENT LIST through herdguard lists its clients, not its own connections", "[integration][clients]") {
    proxy_stack s;
    client a = s.proxy_client();
    client b = s.proxy_client();
    client told = s.proxy_client();
    REQUIRE(a.cmd({"CLIENT", "SETNAME", "app-a"}) == "+OK");
    REQUIRE(b.cmd({"CLIENT", "SETNAME", "app-b"}) == "+OK");
    REQUIRE(b.cmd({"SELECT", "3"}) == "+OK");
    REQUIRE(told.cmd({"CLIENT", "SETNAME", "app-told"}) == "+OK");
    const reply id = told.cmd_reply({"CLIENT", "ID"});
    REQUIRE(id.type == reply::kind::integer);

    const std::string list = client_list(a);
    INFO(list);
    // Redis's view: herdguard's connections, which the list through herdguard does not show
    // (but for the private one of `told`, whose id it was told and is listed with).
    client direct = s.direct_client();
    const std::string direct_id = std::to_string(direct.cmd_reply({"CLIENT", "ID"}).integer);
    const std::string redis_list = client_list(direct);
    int hidden = 0;
    for (const auto& line : all_lines(redis_list)) {
        const std::string own = field(line, "id");
        if (own == direct_id || own == std::to_string(id.integer)) continue;
        ++hidden;
        CHECK(list.find("id=" + own + " ") == std::string::npos);
    }
    CHECK(hidden >= 2);  // the shared connections of two workers at least
    const auto la = lines_named(list, "app-a");
    const auto lb = lines_named(list, "app-b");
    const auto lt = lines_named(list, "app-told");
    REQUIRE(la.size() == 1);
    REQUIRE(lb.size() == 1);
    REQUIRE(lt.size() == 1);  // its private connection (with its name) is not listed beside it
    CHECK(field(la[0], "cmd") == "client|list");
    CHECK(field(lb[0], "db") == "3");
    CHECK(field(la[0], "laddr") == "127.0.0.1:" + std::to_string(s.proxy.port()));
    CHECK(field(la[0], "addr").rfind("127.0.0.1:", 0) == 0);
    CHECK(field(lt[0], "id") == std::to_string(id.integer));  // the id CLIENT ID told it
    // Redis's fields, in Redis's order.
    auto names = [](const std::string& l) {
        std::vector<std::string> out;
        for (std::size_t at = 0; at < l.size();) {
            auto end = l.find(' ', at);
            if (end == std::string::npos) end = l.size();
            out.push_back(l.substr(at, l.find('=', at) - at));
            at = end + 1;
        }
        return out;
    };
    CHECK(names(la[0]) == names(all_lines(redis_list).front()));

    // CLIENT INFO: the asking client's own line.
    const std::string info = b.cmd_reply({"CLIENT", "INFO"}).str;
    CHECK(field(info, "name") == "app-b");
    CHECK(field(info, "id") == field(lb[0], "id"));
    CHECK(field(info, "cmd") == "client|info");
    // CLIENT LIST ID ... and TYPE.
    const std::string by_id = a.cmd_reply({"CLIENT", "LIST", "ID", field(lb[0], "id")}).str;
    CHECK(lines_named(by_id, "app-b").size() == 1);
    CHECK(lines_named(by_id, "app-a").empty());
    CHECK(lines_named(a.cmd_reply({"CLIENT", "LIST", "TYPE", "pubsub"}).str, "app-a").empty());
    CHECK(a.cmd({"CLIENT", "LIST", "TYPE", "wrong"}) == direct.cmd({"CLIENT", "LIST", "TYPE", "wrong"}));

    // CLIENT KILL ID of a client of herdguard's: closed.
    CHECK(a.cmd({"CLIENT", "KILL", "ID", field(lb[0], "id")}) == ":1");
    CHECK(b.cmd({"PING"}).rfind("!io", 0) == 0);
    CHECK(eventually([&] { return lines_named(client_list(a), "app-b").empty(); }, 3s));
}

TEST_CASE("two herdguards in front of one Redis list each other's clients; CLIENT KILL ID reaches either's",
          "[integration][clients]") {
    // Nothing of it is kept in Redis's keyspace: the apps' DBSIZE stays theirs.
    temp_dir dir;
    redis_server redis(dir);
    herdguard_proc one(dir, redis.port());
    herdguard_proc two(dir, redis.port());
    std::vector<client> workers;
    for (int i = 0; i < 6; ++i) {
        workers.emplace_back(i % 2 == 0 ? one.port() : two.port());
        REQUIRE(workers.back().cmd({"CLIENT", "SETNAME", "bull:q:w:" + std::to_string(i)}) == "+OK");
    }
    client ask_one(one.port());
    client ask_two(two.port());
    // At once: the other instance is asked live.
    for (client* c : {&ask_one, &ask_two}) {
        const std::string list = client_list(*c);
        INFO(list);
        for (int i = 0; i < 6; ++i) CHECK(lines_named(list, "bull:q:w:" + std::to_string(i)).size() == 1);
    }
    // A blocking command gives a worker a private connection, with its name: still listed once,
    // through either instance (each tells the other which Redis connections are its own).
    workers[1].append({"BLPOP", "nothing", "0"});
    REQUIRE(workers[1].flush());
    REQUIRE(eventually([&] { return herdguard_counter(two.port(), "redis_private_connections") == 1; }, 3s));
    CHECK(lines_named(client_list(ask_two), "bull:q:w:1").size() == 1);
    CHECK(eventually([&] { return lines_named(client_list(ask_one), "bull:q:w:1").size() == 1; }, 3s, 100ms));

    // CLIENT KILL ID, through one, of a client of the other: the other closes it.
    const auto line = lines_named(client_list(ask_one), "bull:q:w:3");
    REQUIRE(line.size() == 1);
    CHECK(ask_one.cmd({"CLIENT", "KILL", "ID", field(line[0], "id")}) == ":1");
    CHECK(eventually([&] { return workers[3].cmd({"PING"}).rfind("!io", 0) == 0; }, 5s, 100ms));
    CHECK(eventually([&] { return lines_named(client_list(ask_one), "bull:q:w:3").empty(); }, 3s, 100ms));
    CHECK(ask_one.cmd({"CLIENT", "KILL", "ID", field(line[0], "id")}) == ":0");  // gone

    // An instance that stops is gone from the others' lists. (Its blocked worker is woken first:
    // a drain waits for commands in flight.)
    REQUIRE(ask_one.cmd({"RPUSH", "nothing", "x"}) == ":1");
    REQUIRE(workers[1].get_reply() == "*[$nothing, $x]");
    two.stop();
    CHECK(eventually([&] { return lines_named(client_list(ask_one), "bull:q:w:5").empty(); }, 3s, 100ms));
    CHECK(lines_named(client_list(ask_one), "bull:q:w:0").size() == 1);
    CHECK(ask_one.cmd({"DBSIZE"}) == ":0");  // BLPOP took the one key there was
}

TEST_CASE("CLIENT KILL's argument errors are Redis's; only a well-formed kill by TYPE, USER or LADDR is refused",
          "[integration][clients]") {
    proxy_stack s;
    client through = s.proxy_client();
    client direct = s.direct_client();
    for (const std::vector<std::string>& kill : std::vector<std::vector<std::string>>{
             {"CLIENT", "KILL", "TYPE", "wrongtype"},
             {"CLIENT", "KILL", "TYPE", "normal", "ID"},
             {"CLIENT", "KILL", "TYPE"},  // the old form: no such client "TYPE"
             {"CLIENT", "KILL", "FOO", "bar"},
             {"CLIENT", "KILL", "USER", "nosuchuser"},
             {"CLIENT", "KILL", "ID", "abc"},
             {"CLIENT", "KILL", "ID", "0"},
             {"CLIENT", "KILL", "SKIPME", "maybe", "TYPE", "normal"},
             {"CLIENT", "KILL", "LADDR", "1.2.3.4:5", "SKIPME"},
             {"CLIENT", "KILL", "MAXAGE", "10"},  // Redis 7.0 has no MAXAGE: its syntax error
             {"CLIENT", "KILL", "ADDR", "1.2.3.4:5"},
             {"CLIENT", "KILL", "1.2.3.4:5"},
             {"CLIENT", "KILL"},
         }) {
        std::string line;
        for (const auto& a : kill) line += a + " ";
        INFO(line);
        const std::string want = direct.cmd(kill);
        CHECK(through.cmd(kill) == want);
    }
    const std::string refused = "-ERR herdguard: CLIENT KILL by TYPE, USER, LADDR or MAXAGE";
    CHECK(through.cmd({"CLIENT", "KILL", "TYPE", "normal"}).rfind(refused, 0) == 0);
    CHECK(through.cmd({"CLIENT", "KILL", "USER", "default", "SKIPME", "yes"}).rfind(refused, 0) == 0);
    CHECK(through.cmd({"CLIENT", "KILL", "LADDR", "127.0.0.1:1"}).rfind(refused, 0) == 0);
    CHECK(through.cmd({"PING"}) == "+PONG");  // nothing of herdguard's was killed
    CHECK(herdguard_counter(s.proxy.port(), "redis_unavailable_replies") == 0);
}

TEST_CASE("a blocked client that leaves is counted apart from Redis being unavailable", "[integration][clients]") {
    proxy_stack s;
    {
        client blocked = s.proxy_client();
        blocked.append({"BLPOP", "never", "0"});
        REQUIRE(blocked.flush());
        REQUIRE(eventually([&] { return herdguard_counter(s.proxy.port(), "redis_private_connections") == 1; }, 3s));
    }
    CHECK(eventually([&] { return herdguard_counter(s.proxy.port(), "client_gone_replies") >= 1; }, 3s));
    CHECK(herdguard_counter(s.proxy.port(), "client_gone_replies") == 1);
    CHECK(herdguard_counter(s.proxy.port(), "redis_unavailable_replies") == 0);
}
