// What client libraries send when they connect (HELLO, CLIENT SETNAME/SETINFO, COMMAND, AUTH,
// SELECT) must never break the connection, and must look like Redis speaking RESP2 (RESP3 after
// HELLO 3: test_resp3.cpp).
#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

// HELLO's reply with the connection-specific `id` value blanked (after checking it is an integer).
std::string hello_without_id(const reply& r) {
    reply copy = r;
    if (copy.type == reply::kind::array) {
        for (std::size_t i = 0; i + 1 < copy.elements.size(); i += 2) {
            if (copy.elements[i].str == "id") {
                CHECK(copy.elements[i + 1].type == reply::kind::integer);
                copy.elements[i + 1] = reply{reply::kind::status, "<id>", 0, {}};
            }
        }
    }
    return copy.canonical();
}

bool starts_with(const std::string& s, const std::string& prefix) {
    return s.rfind(prefix, 0) == 0;
}

}  // namespace

TEST_CASE("handshake commands answer like Redis and never break the connection",
          "[integration][handshake]") {
    proxy_stack stack;
    auto c = stack.proxy_client();
    auto direct = stack.direct_client();

    CHECK(c.cmd({"PING"}) == "+PONG");
    CHECK(c.cmd({"PING", "hello there"}) == "$hello there");
    CHECK(c.cmd({"ECHO", "hi"}) == "$hi");

    {  // HELLO and HELLO 2: Redis's reply except the id
        auto hello = c.cmd_reply({"HELLO"});
        CHECK(hello.type == reply::kind::array);
        CHECK(hello_without_id(hello) == hello_without_id(direct.cmd_reply({"HELLO"})));
        auto hello2 = c.cmd_reply({"HELLO", "2"});
        CHECK(hello_without_id(hello2) == hello_without_id(direct.cmd_reply({"HELLO", "2"})));
    }
    // A version Redis refuses is refused the same way, and the connection stays RESP2 (hiredis
    // 0.14 could not even parse a RESP3 reply, so the PING at the end proves it). HELLO 3 itself
    // switches the client to RESP3: test_resp3.cpp.
    auto hello4 = c.cmd({"HELLO", "4"});
    INFO("HELLO 4 -> " << hello4);
    CHECK(starts_with(hello4, "-NOPROTO"));
    CHECK(hello4 == direct.cmd({"HELLO", "4"}));

    CHECK(c.cmd({"CLIENT", "SETNAME", "x"}) == "+OK");
    CHECK(c.cmd({"CLIENT", "GETNAME"}) == "$x");
    // Redis 7.0 itself does not know SETINFO (7.2 does); libraries send it, so the proxy accepts
    // it.
    CHECK(c.cmd({"CLIENT", "SETINFO", "LIB-NAME", "foo"}) == "+OK");
    CHECK(c.cmd({"CLIENT", "SETINFO", "LIB-VER", "1.2.3"}) == "+OK");
    CHECK(c.cmd_reply({"CLIENT", "ID"}).type == reply::kind::integer);

    auto count = c.cmd({"COMMAND", "COUNT"});
    CHECK(count == direct.cmd({"COMMAND", "COUNT"}));
    auto docs = c.cmd_reply({"COMMAND", "DOCS", "GET"});
    INFO("COMMAND DOCS GET -> " << docs.canonical());
    CHECK(docs.type == reply::kind::array);
    CHECK_FALSE(docs.elements.empty());

    CHECK(c.cmd({"SELECT", "0"}) == "+OK");
    // Redis here has no password: both AUTH forms must fail exactly as Redis fails them.
    CHECK(c.cmd({"AUTH", "secret"}) == direct.cmd({"AUTH", "secret"}));
    CHECK(c.cmd({"AUTH", "someone", "secret"}) == direct.cmd({"AUTH", "someone", "secret"}));

    CHECK(c.ok());
    CHECK(c.cmd({"PING"}) == "+PONG");
    require_proxy_alive(stack);
}

TEST_CASE("QUIT answers +OK and then the proxy closes the connection", "[integration][handshake]") {
    proxy_stack stack;
    raw_conn conn(stack.proxy.port());
    REQUIRE(conn.send("*1\r\n$4\r\nPING\r\n"));
    CHECK(conn.read_reply() == "+PONG\r\n");
    REQUIRE(conn.send("*1\r\n$4\r\nQUIT\r\n"));
    CHECK(conn.read_reply() == "+OK\r\n");
    CHECK(conn.wait_closed(2s));
    CHECK(conn.pending().empty());
    require_proxy_alive(stack);
}
