// The stock redis-cli, as an unmodified real-world client, driven through the proxy.
#include "harness.h"
#include "test_support.h"

using namespace herdguard::test;

namespace {

command_result redis_cli(std::uint16_t port, std::vector<std::string> args,
                         const std::string& input = {}, milliseconds timeout = 10s) {
    std::vector<std::string> argv{"redis-cli", "-h", "127.0.0.1", "-p", std::to_string(port)};
    argv.insert(argv.end(), args.begin(), args.end());
    return run_command(argv, timeout, input);
}

std::string describe(const command_result& r) {
    return "exit " + std::to_string(r.exit_code) + (r.timed_out ? " (timed out)" : "") +
           "\nstdout: " + r.out + "\nstderr: " + r.err;
}

}  // namespace

TEST_CASE("redis-cli commands and --pipe mass insert work through the proxy",
          "[integration][redis-cli]") {
    proxy_stack stack;
    const auto port = stack.proxy.port();

    auto set = redis_cli(port, {"SET", "a", "1"});
    INFO(describe(set));
    CHECK(set.exit_code == 0);
    CHECK(set.out == "OK\n");

    auto get = redis_cli(port, {"GET", "a"});
    INFO(describe(get));
    CHECK(get.exit_code == 0);
    CHECK(get.out == "1\n");

    auto info = redis_cli(port, {"INFO", "server"});
    INFO(describe(info));
    CHECK(info.exit_code == 0);
    CHECK(info.out.find_first_not_of(" \r\n") != std::string::npos);

    // Mass insert: raw RESP on stdin, as the Redis docs describe it.
    std::string input;
    for (int i = 0; i < 10000; ++i) {
        auto key = "mass:" + std::to_string(i);
        auto value = "value-" + std::to_string(i);
        input += "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$" +
                 std::to_string(value.size()) + "\r\n" + value + "\r\n";
    }
    auto pipe = redis_cli(port, {"--pipe"}, input, 30s);
    INFO(describe(pipe));
    CHECK(pipe.exit_code == 0);
    CHECK(pipe.out.find("errors: 0, replies: 10000") != std::string::npos);

    auto via_proxy = stack.proxy_client();
    auto direct = stack.direct_client();
    CHECK(via_proxy.cmd({"DBSIZE"}) == ":10001");  // the 10,000 plus "a"
    CHECK(via_proxy.cmd({"DBSIZE"}) == direct.cmd({"DBSIZE"}));
    CHECK(via_proxy.cmd({"GET", "mass:9999"}) == "$value-9999");
    require_proxy_alive(stack);
}
