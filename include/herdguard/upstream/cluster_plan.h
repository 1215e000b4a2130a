// How a client's command crosses a Redis Cluster (issue 13), decided from argv alone, so each
// command family's rule is unit-tested and the cluster backend only carries it out:
//  - slot: to the master of the first key's slot (resp::first_key). A command whose keys span
//    slots gets Redis's own CROSSSLOT there, unchanged: Redis checks the slots before ownership;
//  - split: multi-key commands cut by slot and put back together: MGET (values in request
//    order), DEL/UNLINK/EXISTS/TOUCH (counts summed), MSET (pairs; +OK when every part is);
//  - all_masters: keyless commands about the whole keyspace or every node's state: DBSIZE
//    (summed), KEYS (concatenated), FLUSHALL/FLUSHDB/SCRIPT FLUSH/FUNCTION FLUSH (+OK when every
//    one is), SCRIPT LOAD/FUNCTION LOAD (every master, one answer), SCAN (walked master by
//    master, the node in the cursor);
//  - any_master: keyless commands one node answers for all: RANDOMKEY, PUBLISH (cluster pub/sub
//    is broadcast), INFO (with cluster_enabled:0: the app sees one endpoint), TIME, ...;
//  - local: answered by herdguard: SELECT 0 is +OK, any other db is Redis's cluster-mode error.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

namespace herdguard {

enum class cluster_route { slot, split, all_masters, any_master, local };
enum class cluster_merge {
    none,            // one node's reply, as it is
    values_in_order, // MGET: an array of each key's value, in request order
    sum,             // integers added up
    concat,          // arrays joined (KEYS)
    all_ok,          // +OK if every node said it, else the first error
    any_ok,          // +OK if any node said it (SCRIPT KILL: the one running it), else the first reply
    same,            // every node must give the same reply (SCRIPT LOAD's sha1); the first one
    scan,            // SCAN: one master at a time, the master's index in the cursor
    info,            // INFO: cluster_enabled:1 shown as 0
};

struct cluster_plan {
    cluster_route route = cluster_route::slot;
    cluster_merge merge = cluster_merge::none;
    std::size_t first_key = 1;  // split: where the keys start in argv
    std::size_t stride = 1;     // split: 1 for key lists, 2 for key-value pairs (MSET)
    std::string local_reply;    // local: the reply
};

cluster_plan plan_cluster_command(std::span<const std::string_view> argv);

}  // namespace herdguard
