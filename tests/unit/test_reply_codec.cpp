// The one reader of replies (reply_view, decode_reply), the protocol-aware writer, and the
// Redis handshake as data.
#include <catch2/catch.hpp>

#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_value.h"
#include "herdguard/resp/reply_view.h"
#include "herdguard/upstream/handshake.h"

using namespace herdguard;
using namespace herdguard::resp;

TEST_CASE("reply_view: type, error, null and push of RESP2 and RESP3 replies", "[codec]") {
    CHECK(reply_view("+OK\r\n").type() == reply_type::simple);
    CHECK(reply_view(":12\r\n").integer() == 12);
    CHECK_FALSE(reply_view("+12\r\n").integer());
    CHECK(reply_view("$3\r\nabc\r\n").bulk() == std::string_view("abc"));
    CHECK(reply_view("$0\r\n\r\n").bulk() == std::string_view(""));
    CHECK_FALSE(reply_view("$-1\r\n").bulk());
    for (auto null : {"$-1\r\n", "*-1\r\n", "_\r\n"}) {
        INFO(null);
        CHECK(reply_view(null).is_null());
        CHECK_FALSE(reply_view(null).is_error());
    }
    CHECK_FALSE(reply_view("$0\r\n\r\n").is_null());
    CHECK(reply_view("-WRONGTYPE Operation against a key\r\n").is_error());
    CHECK(reply_view("-WRONGTYPE Operation against a key\r\n").error_code() == "WRONGTYPE");
    CHECK(reply_view("-ERR x\r\n").error_text() == "ERR x");
    CHECK(reply_view("!21\r\nSYNTAX invalid syntax\r\n").is_error());
    CHECK(reply_view("!21\r\nSYNTAX invalid syntax\r\n").error_code() == "SYNTAX");
    CHECK(reply_view(">3\r\n$7\r\nmessage\r\n$1\r\nc\r\n$1\r\nm\r\n").is_push());
    CHECK(reply_view("%1\r\n+a\r\n:1\r\n").type() == reply_type::map);
    CHECK(reply_view("=15\r\ntxt:Some string\r\n").bulk() == std::string_view("txt:Some string"));
    CHECK(reply_view("").type() == reply_type::unknown);
    CHECK(reply_view("?x\r\n").type() == reply_type::unknown);
    CHECK_FALSE(reply_view("$5\r\nab\r\n").bulk());  // shorter than it says: never read past
}

TEST_CASE("reply_writer: null, map, set, boolean and double per protocol", "[codec]") {
    const reply_writer v2(protocol_version::resp2);
    const reply_writer v3(protocol_version::resp3);
    std::string a, b;
    v2.null(a);
    v3.null(b);
    CHECK(a == "$-1\r\n");
    CHECK(b == "_\r\n");
    CHECK(null_reply(protocol_version::resp2) == "$-1\r\n");
    a.clear(), b.clear();
    v2.map_header(a, 2);
    v3.map_header(b, 2);
    CHECK(a == "*4\r\n");
    CHECK(b == "%2\r\n");
    a.clear(), b.clear();
    v2.set_header(a, 3);
    v3.set_header(b, 3);
    CHECK(a == "*3\r\n");
    CHECK(b == "~3\r\n");
    a.clear(), b.clear();
    v2.boolean(a, true);
    v3.boolean(b, false);
    CHECK(a == ":1\r\n");
    CHECK(b == "#f\r\n");
    a.clear(), b.clear();
    v2.double_value(a, 1.5);
    v3.double_value(b, 1.5);
    CHECK(a == "$3\r\n1.5\r\n");
    CHECK(b == ",1.5\r\n");
    a.clear(), b.clear();
    v2.text(a, "# Server");
    v3.text(b, "# Server");
    CHECK(a == "$8\r\n# Server\r\n");
    CHECK(b == "=12\r\ntxt:# Server\r\n");  // INFO's verbatim string, as Redis 7 writes it
    CHECK(reply_view(b).bulk() == "txt:# Server");
}

TEST_CASE("decode_reply: the herd path's reader, on nested arrays and every scalar", "[codec]") {
    auto v = decode_reply("*3\r\n$3\r\nhit\r\n$5\r\nvalue\r\n*2\r\n:7\r\n$-1\r\n");
    REQUIRE(v.type == reply_type::array);
    REQUIRE(v.elements.size() == 3);
    CHECK(v.elements[0].str == "hit");
    CHECK(v.elements[1].str == "value");
    REQUIRE(v.elements[2].elements.size() == 2);
    CHECK(v.elements[2].elements[0].type == reply_type::integer);
    CHECK(v.elements[2].elements[0].integer == 7);
    CHECK(v.elements[2].elements[1].type == reply_type::null);

    auto err = decode_reply("-NOSCRIPT No matching script\r\n");
    CHECK(err.is_error());
    CHECK(err.str == "NOSCRIPT No matching script");
    CHECK(decode_reply("+OK\r\n").str == "OK");
    CHECK(decode_reply(":-2\r\n").integer == -2);
    CHECK(decode_reply("*0\r\n").elements.empty());
    CHECK(decode_reply("*-1\r\n").type == reply_type::null);
    // Not one complete reply: an error value, never a crash or a guess.
    for (auto bad : {"", "*2\r\n:1\r\n", "$3\r\nab", ":1\r\n:2\r\n", "?\r\n"}) {
        INFO(bad);
        auto u = decode_reply(bad);
        CHECK(u.is_error());
        CHECK(u.str == "ERR herdguard: unreadable reply from redis");
    }
}

TEST_CASE("handshake: AUTH and SELECT as configured, CLIENT ID on shared connections", "[codec]") {
    redis_config cfg;
    auto none = plan_handshake(cfg, false);
    CHECK(none.replies == 0);
    CHECK(none.bytes.empty());
    cfg.password = "pw";
    cfg.database = 3;
    auto shared = plan_handshake(cfg, true);
    CHECK(shared.replies == 3);
    CHECK(shared.ends_with_client_id);
    CHECK(shared.bytes ==
          "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*2\r\n$6\r\nSELECT\r\n$1\r\n3\r\n*2\r\n$6\r\nCLIENT\r\n$2\r\nID\r\n");
    cfg.username = "app";
    auto acl = plan_handshake(cfg, false);
    CHECK(acl.replies == 2);
    CHECK_FALSE(acl.ends_with_client_id);
    CHECK(acl.bytes.rfind("*3\r\n$4\r\nAUTH\r\n$3\r\napp\r\n$2\r\npw\r\n", 0) == 0);

    // A connection for RESP3 clients says HELLO 3 after AUTH (Redis refuses HELLO before it with
    // requirepass), before SELECT.
    auto resp3 = plan_handshake(cfg, true, true);
    CHECK(resp3.replies == 4);
    CHECK(resp3.bytes.find("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n") > resp3.bytes.find("AUTH"));
    CHECK(resp3.bytes.find("*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n") < resp3.bytes.find("SELECT"));
    CHECK(plan_handshake(redis_config{}, false, true).bytes == "*2\r\n$5\r\nHELLO\r\n$1\r\n3\r\n");

    std::int64_t id = -1;
    CHECK(read_handshake_reply("+OK\r\n", false, id).empty());
    CHECK(id == -1);
    CHECK(read_handshake_reply(":42\r\n", true, id).empty());
    CHECK(id == 42);
    CHECK(read_handshake_reply("-WRONGPASS invalid username-password pair\r\n", false, id) ==
          "handshake refused: WRONGPASS invalid username-password pair");
}
