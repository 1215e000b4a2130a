#include "herdguard/server/l1_writes.h"

#include "herdguard/server/command_table.h"
#include "herdguard/util/strings.h"

namespace herdguard {

namespace {

bool empties_l1(std::string_view command) {
    return iequals(command, "flushall") || iequals(command, "flushdb") || iequals(command, "swapdb");
}

}  // namespace

l1_write_planner::effect l1_write_planner::on_command(const std::vector<std::string_view>& argv,
                                                      transaction_effect transaction, bool in_multi,
                                                      const std::function<bool(std::string_view)>& has_l1) {
    effect e;
    if (argv.empty()) return e;
    if (transaction == transaction_effect::begins) {
        tx_keys_.clear();
        tx_flush_ = false;
    }
    e.flush = empties_l1(argv[0]);
    for_each_written_key(argv, [&](std::string_view key) {
        if (has_l1(key)) e.keys.emplace_back(key);
    });
    if (in_multi && transaction == transaction_effect::none) {  // queued: runs at EXEC
        for (auto& k : e.keys) tx_keys_.push_back(std::move(k));
        tx_flush_ = tx_flush_ || e.flush;
        if (tx_keys_.size() > max_tx_keys) {
            tx_keys_.clear();
            tx_flush_ = true;
        }
        return {};
    }
    if (transaction == transaction_effect::ends) {
        if (iequals(argv[0], "exec")) {
            e.keys = std::move(tx_keys_);
            e.flush = tx_flush_;
        }
        tx_keys_.clear();
        tx_flush_ = false;
    }
    return e;
}

}  // namespace herdguard
