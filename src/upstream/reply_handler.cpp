#include "herdguard/upstream/reply_handler.h"

namespace herdguard {

namespace {
class discard_handler final : public reply_handler {
public:
    void on_reply(std::string_view) override {}
    void on_failure(std::string_view) override {}
};
}  // namespace

reply_handler& discard_reply() {
    static discard_handler h;
    return h;
}

}  // namespace herdguard
