// What a Redis Cluster error reply asks of the one who sent the command (issue 13), read from the
// error's text (the Redis Cluster specification, "Redirection and resharding"):
//  - MOVED <slot> <host>:<port>  the slot lives there now: update the map, send there;
//  - ASK <slot> <host>:<port>    this one command goes there, after ASKING; the map stays;
//  - TRYAGAIN, CLUSTERDOWN, LOADING: the same node, again, after a pause;
//  - anything else: the client's answer.
// The host is what the cluster announces, split at the last ':' (an IPv6 address comes
// unbracketed); an empty one (an endpoint announced as unknown) means the node that answered.
// Pure, so the cluster backend's redirect handling is unit-tested on the texts Redis sends.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace herdguard {

struct cluster_redirect {
    enum class kind { none, moved, ask, retry };
    kind what = kind::none;
    std::uint16_t slot = 0;
    std::string host;  // empty: the node that answered
    std::uint16_t port = 0;
    // "host:port" to go to. `answered`: the "host:port" that gave the redirect, whose host stands
    // in for an endpoint announced as unknown ("MOVED 1 :6380", or "?").
    std::string address(std::string_view answered) const;
};

// What one command may still spend on redirects and retries: cluster.max_redirects MOVED/ASK in
// a row, and retries (pausing 5 ms, doubling to 100 ms) until command_timeout after its first send.
struct redirect_budget {
    static constexpr std::chrono::milliseconds first_pause{5};
    static constexpr std::chrono::milliseconds max_pause{100};
    explicit redirect_budget(std::chrono::steady_clock::duration command_timeout)
        : deadline(std::chrono::steady_clock::now() + command_timeout) {}
    int redirects = 0;
    std::chrono::steady_clock::time_point deadline;
    std::chrono::milliseconds pause = first_pause;
};

// `error`: an error reply's bytes ("-MOVED 3999 127.0.0.1:6381\r\n") or its text without '-'.
cluster_redirect read_cluster_redirect(std::string_view error);

}  // namespace herdguard
