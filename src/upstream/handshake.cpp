#include "herdguard/upstream/handshake.h"

#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_view.h"

namespace herdguard {

handshake_plan plan_handshake(const redis_config& cfg, bool shared, bool resp3) {
    handshake_plan plan;
    if (!cfg.password.empty()) {
        if (cfg.username.empty()) resp::append_command(plan.bytes, {"AUTH", cfg.password});
        else resp::append_command(plan.bytes, {"AUTH", cfg.username, cfg.password});
        ++plan.replies;
    }
    if (resp3) {  // after AUTH: a Redis with requirepass refuses HELLO before it
        resp::append_command(plan.bytes, {"HELLO", "3"});
        ++plan.replies;
    }
    if (cfg.database != 0) {
        const std::string db = std::to_string(cfg.database);
        resp::append_command(plan.bytes, {"SELECT", db});
        ++plan.replies;
    }
    if (shared) {
        resp::append_command(plan.bytes, {"CLIENT", "ID"});
        ++plan.replies;
        plan.ends_with_client_id = true;
    }
    return plan;
}

std::string read_handshake_reply(std::string_view reply, bool is_client_id, std::int64_t& client_id) {
    const resp::reply_view view(reply);
    if (view.is_error()) return "handshake refused: " + std::string(view.error_text());
    if (is_client_id) {
        if (auto id = view.integer()) client_id = *id;
    }
    return "";
}

}  // namespace herdguard
