// The pass-through suite: command sequences and scenarios that must give the same replies through
// herdguard as straight from Redis. Run in front of one Redis (test_passthrough_*.cpp) and in front
// of a Redis Cluster (test_cluster_passthrough.cpp), so both modes answer to one list.
//
// "{p}" in a sequence stands for the key prefix (test_support.h): proxy_prefix through herdguard,
// direct_prefix straight to Redis. Both prefixes are hash tags, so in a cluster each side's keys
// share one slot and multi-key commands (SMOVE, RPOPLPUSH, SINTERSTORE...) are legal.
#pragma once

#include <cstdint>
#include <set>
#include <string>
#include <vector>

#include "test_support.h"

namespace herdguard::test {

struct named_sequence {
    std::string name;
    std::vector<command> commands;
};

// The data types, EVAL, error replies and MULTI/EXEC: each sequence starts from keys that do not
// exist, and is meant for compare_sequence.
named_sequence strings_sequence();
named_sequence lists_sequence();
named_sequence hashes_sequence();
named_sequence sets_sequence();
named_sequence sorted_sets_sequence();
named_sequence streams_sequence();
named_sequence expiry_sequence();
named_sequence eval_sequence();
named_sequence error_replies_sequence();
named_sequence multi_exec_sequence();
std::vector<named_sequence> all_sequences();

// `count` mixed commands (SET GET INCR LPUSH LRANGE HSET HGET DEL EXISTS) for one pipeline.
std::vector<command> mixed_pipeline(int count);

// Sends `sequence` as one pipeline each way and compares the replies pair by pair: `mismatches`
// counts the pairs that differ, `samples` describes the first 5.
struct pipeline_comparison {
    std::size_t replies_via_proxy = 0, replies_direct = 0, mismatches = 0;
    std::string samples;
};
pipeline_comparison compare_pipeline(client& via_proxy, client& direct, const std::vector<command>& sequence);
// 10,000 mixed commands as one pipeline each way: every reply there and equal, and the proxy's
// connection still in step afterwards (a PING).
void check_mixed_pipeline(client& via_proxy, client& direct);

// A full SCAN iteration (COUNT 50) for keys matching `prefix` + "scan:*", normalised. Asserts the
// reply's shape and that the cursor comes back to 0.
std::set<std::string> scan_all(client& c, const std::string& prefix);

// WATCH, another client's write, MULTI, EXEC (index 5: nil), then the same without interference.
std::vector<std::string> watch_abort_scenario(client& a, client& b, const std::string& prefix);

// `clients` concurrent connections to `port`, each writing and reading back its own key `rounds`
// times; the failures seen, and how many clients completed.
struct read_own_writes_result {
    std::size_t failures = 0, completed = 0;
    std::string summary;
};
read_own_writes_result read_own_writes(std::uint16_t port, int clients, int rounds);

}  // namespace herdguard::test
