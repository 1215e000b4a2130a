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

// `error`: an error reply's bytes ("-MOVED 3999 127.0.0.1:6381\r\n") or its text without '-'.
cluster_redirect read_cluster_redirect(std::string_view error);

}  // namespace herdguard
