// The pure half of a command that crosses a cluster (issue 13): cutting a multi-key command by
// slot, putting the parts' replies back together, and SCAN's cursor across masters. No I/O, so
// each merge rule is unit-tested on the bytes Redis sends; cluster_backend carries them out.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/upstream/cluster_plan.h"

namespace herdguard {

// One slot's share of a split command (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH).
struct cluster_part {
    std::uint16_t slot = 0;
    std::vector<std::size_t> positions;  // which of the command's keys (0-based, request order)
    // argv[0 .. plan.first_key) then this slot's keys (with their values for MSET), in request
    // order: views into the caller's argv, valid while it is.
    std::vector<std::string_view> argv;
};

// Parts in order of first appearance. Empty for no keys or a broken arity (MSET with a key
// without a value): the caller sends the command whole and Redis names the error.
std::vector<cluster_part> split_by_slot(std::span<const std::string_view> argv, const cluster_plan& plan);

// The one reply the client expects, from the parts' replies (complete RESP replies as Redis sent
// them, one per part, in part order):
//  - values_in_order: MGET's array of `total_keys` elements in request order; a part that failed
//    puts its error at each of its keys;
//  - sum: the integers added (the first error, if any);
//  - all_ok: +OK when every reply is +OK, else the first that is not;
//  - concat: the arrays joined (the first error, if any);
//  - same: the first reply when all are the same bytes (the first error, if any);
//  - info: "cluster_enabled:1" shown as 0 in the one reply;
//  - none, scan: the one reply as it is.
std::string merge_cluster_replies(cluster_merge how, std::span<const std::string> replies,
                                  std::span<const cluster_part> parts = {}, std::size_t total_keys = 0);

// SCAN across masters (sorted the same way each time by the caller): the client's cursor is
// node_cursor * masters + index, in unsigned 64-bit decimal; "0" is master 0's cursor 0.
struct scan_position {
    std::size_t index = 0;
    std::string node_cursor = "0";
};
// nullopt: not a number, or too large.
std::optional<scan_position> decode_scan_cursor(std::string_view cursor, std::size_t masters);
// Master `index`'s SCAN reply, with the cursor the client must send next: the same master's
// next cursor, or master index+1 from 0 once this one is done, or "0" after the last. An error
// reply comes back as it is; nullopt when the reply is not SCAN's shape or the cursor overflows.
std::optional<std::string> rewrite_scan_reply(std::string_view reply, std::size_t index, std::size_t masters);

}  // namespace herdguard
