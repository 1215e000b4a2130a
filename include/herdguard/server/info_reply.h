// INFO through herdguard: Redis's reply with the "# Herdguard" section appended (the plan says
// when: command_plan::info_section). Wraps the client's reply slot; deletes itself after the one
// reply it receives.
#pragma once

#include <string>
#include <string_view>

#include "herdguard/upstream/reply_handler.h"

namespace herdguard {

class info_append final : public reply_handler {
public:
    info_append(reply_handler& slot, std::string section) : slot_(slot), section_(std::move(section)) {}
    void on_reply(std::string_view raw) override;
    void on_failure(std::string_view error) override;

private:
    ~info_append() = default;
    reply_handler& slot_;
    std::string section_;
};

}  // namespace herdguard
