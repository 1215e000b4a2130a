// L1's read-your-writes, planned without I/O (docs/DESIGN.md, "L1"): which keys a client's
// command must drop from L1 when its reply arrives, before the client can see that reply. By then
// Redis has run the write, so a read reserved later reads the new value and a fill reserved
// earlier is voided (herd/l1_cache.h).
//  - a write (the stale-set list: SET, DEL, EXPIRE, MSET, RENAME, SETBIT, EVAL/FCALL keys...) to
//    a key of a route with L1: that key;
//  - FLUSHALL, FLUSHDB, SWAPDB: everything;
//  - inside MULTI the writes run at EXEC, so their keys wait for EXEC's reply (DISCARD forgets
//    them). Bounded: past max_tx_keys, EXEC empties L1 instead.
// One per session; the session wraps the command's reply handler when the effect is not empty.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "herdguard/server/command_plan.h"

namespace herdguard {

class l1_write_planner {
public:
    static constexpr std::size_t max_tx_keys = 10000;
    struct effect {
        std::vector<std::string> keys;
        bool flush = false;
        bool empty() const { return keys.empty() && !flush; }
    };
    // `in_multi`: the client was inside MULTI before this command. `has_l1`: whether a key
    // belongs to a route with L1.
    effect on_command(const std::vector<std::string_view>& argv, transaction_effect transaction, bool in_multi,
                      const std::function<bool(std::string_view)>& has_l1);

private:
    std::vector<std::string> tx_keys_;
    bool tx_flush_ = false;
};

}  // namespace herdguard
