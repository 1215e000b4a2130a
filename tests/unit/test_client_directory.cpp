// CLIENT LIST / CLIENT INFO through herdguard (client_directory.h): the directory of clients, the
// line each is listed with, and the merge with Redis's own reply.
#include <catch2/catch.hpp>

#include <algorithm>

#include "herdguard/server/client_directory.h"

using namespace herdguard;

namespace {

const std::string redis_line_70 =
    "id=3 addr=127.0.0.1:36034 laddr=127.0.0.1:6379 fd=8 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 "
    "multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22298 "
    "events=r cmd=client|list user=default redir=-1 resp=2";

client_view app(std::uint64_t id, std::string name) {
    client_view c;
    c.id = id;
    c.addr = "10.0.0.5:40000";
    c.laddr = "127.0.0.1:6380";
    c.fd = 12;
    c.since_ms = 1'000'000;
    c.last_ms = 1'004'000;
    c.identity.name = std::move(name);
    return c;
}

}  // namespace

TEST_CASE("client directory: ids above Redis's, unique, with the instance's tag; kills by either id or address",
          "[clients]") {
    client_directory d(77);
    int closed = 0;
    auto a = d.add("1.2.3.4:5", "127.0.0.1:6380", 9, 1000, 0, [&] { ++closed; });
    auto b = d.add("1.2.3.4:6", "127.0.0.1:6380", 10, 1000, 0, [&] { ++closed; });
    CHECK(a->fixed.id >= client_directory::first_id);
    CHECK(b->fixed.id != a->fixed.id);
    CHECK(client_directory::tag_of(a->fixed.id) == 77);
    CHECK(a->fixed.id < (std::uint64_t{1} << 53));  // exact in JavaScript

    client_identity named;
    named.name = "w1";
    d.update(a->fixed.id, named);
    CHECK(d.snapshot(0, 0).front().identity.name == "w1");

    // Killed by herdguard's id, by the id CLIENT ID told it, and by its address.
    CHECK(d.kill_id(a->fixed.id));
    named.told_id = 42;
    d.update(b->fixed.id, named);
    CHECK(d.kill_id(42));
    CHECK(d.kill_addr("1.2.3.4:5"));
    CHECK_FALSE(d.kill_addr("1.2.3.4:7"));
    CHECK_FALSE(d.kill_id(client_directory::first_id + 999));
    CHECK(closed == 3);

    d.remove(a->fixed.id);
    const auto all = d.snapshot(5000, 2'000'000'000);  // 2 s after b's last read (at 0 ns)
    REQUIRE(all.size() == 1);
    CHECK(all[0].last_ms == 3000);
    CHECK(all[0].listed_id() == 42);
}

TEST_CASE("client directory: a client published for the other instances reads back the same", "[clients]") {
    client_view c = app(client_directory::first_id + 5, "bull:q:w:1");
    c.identity.lib_name = "ioredis";
    c.identity.lib_ver = "5.4.1";
    c.identity.db = 3;
    c.identity.resp = 3;
    c.identity.told_id = 17;
    c.identity.multi = true;
    c.identity.tracking = true;
    const auto back = parse_published(publish_line(c));
    REQUIRE(back);
    CHECK(back->id == c.id);
    CHECK(back->addr == c.addr);
    CHECK(back->laddr == c.laddr);
    CHECK(back->fd == c.fd);
    CHECK(back->since_ms == c.since_ms);
    CHECK(back->last_ms == c.last_ms);
    CHECK(back->identity == c.identity);
    CHECK_FALSE(parse_published("addr=1.2.3.4:5"));  // no id: not one of ours
}

TEST_CASE("client directory: a client's line has Redis's fields in Redis's order", "[clients]") {
    client_view c = app(client_directory::first_id + 1, "w");
    c.identity.db = 2;
    c.identity.pubsub = true;
    const auto fields = line_fields(redis_line_70);
    REQUIRE(fields.size() == 28);
    const std::string line = render_client_line(c, fields, 1'010'500, "client|list");
    CHECK(line_fields(line) == fields);
    CHECK(line_field(line, "id") == std::to_string(c.id));
    CHECK(line_field(line, "addr") == "10.0.0.5:40000");
    CHECK(line_field(line, "laddr") == "127.0.0.1:6380");
    CHECK(line_field(line, "name") == "w");
    CHECK(line_field(line, "age") == "10");
    CHECK(line_field(line, "idle") == "6");
    CHECK(line_field(line, "flags") == "P");
    CHECK(line_field(line, "db") == "2");
    CHECK(line_field(line, "multi") == "-1");
    CHECK(line_field(line, "cmd") == "client|list");
    CHECK(line_field(line, "resp") == "2");
    // Redis 7.2's library fields, when its line has them.
    auto with_lib = fields;
    with_lib.push_back("lib-name");
    c.identity.lib_name = "redis-py";
    CHECK(line_field(render_client_line(c, with_lib, 1'010'500, "NULL"), "lib-name") == "redis-py");
}

TEST_CASE("client directory: CLIENT LIST hides herdguard's connections and lists its clients", "[clients]") {
    const std::string shared_line = redis_line_70;  // id=3: a shared connection of herdguard's
    std::string app_direct = redis_line_70;  // an app connected to Redis directly
    app_direct.replace(0, 4, "id=9");
    const std::string body = shared_line + "\n" + app_direct + "\n";
    const std::vector<client_view> ours = {app(client_directory::first_id + 1, "a"), app(client_directory::first_id + 2, "b")};
    const std::string merged =
        merge_client_list(body, {3}, ours, client_list_filter{}, client_directory::first_id + 2, "client|list", 1'005'000);
    CHECK(merged.find("id=3 ") == std::string::npos);
    CHECK(merged.find("id=9 ") != std::string::npos);
    CHECK(merged.find("name=a ") != std::string::npos);
    CHECK(merged.find("name=b ") != std::string::npos);
    // The asking client's line shows its command; the others NULL.
    const std::string b_line = merged.substr(merged.find("id=" + std::to_string(client_directory::first_id + 2)));
    CHECK(line_field(b_line.substr(0, b_line.find('\n')), "cmd") == "client|list");
    CHECK(std::count(merged.begin(), merged.end(), '\n') == 3);

    // CLIENT LIST TYPE pubsub / ID ...
    auto subscribed = ours;
    subscribed[0].identity.pubsub = true;
    auto f = parse_client_list_args({"CLIENT", "LIST", "TYPE", "PUBSUB"});
    std::string only = merge_client_list("", {}, subscribed, f, 0, "client|list", 0);
    CHECK(only.find("name=a ") != std::string::npos);
    CHECK(only.find("name=b ") == std::string::npos);
    f = parse_client_list_args({"CLIENT", "LIST", "ID", std::to_string(client_directory::first_id + 2), "9"});
    only = merge_client_list("", {}, ours, f, 0, "client|list", 0);
    CHECK(only.find("name=a ") == std::string::npos);
    CHECK(only.find("name=b ") != std::string::npos);
    CHECK_FALSE(parse_client_list_args({"CLIENT", "LIST", "TYPE", "master"}).matches(ours[0]));
    // No line from Redis to take the fields from: Redis 7.0's.
    CHECK(line_fields(only.substr(0, only.find('\n'))) == default_client_fields());
}

TEST_CASE("client directory: an instance's answer to another's CLIENT LIST reads back", "[clients]") {
    std::vector<client_view> ours = {app(client_directory::first_id + 1, "a"), app(client_directory::first_id + 2, "")};
    ours[1].identity.told_id = 17;
    const std::string answer = list_answer({5, 9}, ours);
    CHECK(answer.rfind("_conns 5 9\n", 0) == 0);
    remote_clients back;
    read_list_answer(answer, back);
    REQUIRE(back.clients.size() == 2);
    CHECK(back.clients[0].identity.name == "a");
    CHECK(back.clients[1].id == client_directory::first_id + 2);
    CHECK(back.clients[1].identity.told_id == 17);
    CHECK(back.hidden == std::set<std::int64_t>{5, 9});
    // An instance with no connections and no clients yet.
    remote_clients none;
    read_list_answer(list_answer({}, {}), none);
    CHECK(none.clients.empty());
    CHECK(none.hidden.empty());
}
