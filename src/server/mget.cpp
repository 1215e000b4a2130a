#include "herdguard/server/mget.h"

#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_view.h"

namespace herdguard {

mget_gather::mget_gather(reply_handler& slot, std::size_t keys, int protocol)
    : slot_(slot), parts_(keys), handlers_(keys), pending_(keys + 1),
      protocol_(static_cast<resp::protocol_version>(protocol)) {
    for (std::size_t i = 0; i < keys; ++i) handlers_[i] = part{this, i};
}

void mget_gather::store(std::size_t i, std::string_view raw) {
    parts_[i].assign(raw);
    done_one();
}

void mget_gather::done_one() {
    if (--pending_ > 0) return;
    for (const auto& p : parts_) {
        const resp::reply_view part(p);
        if (part.is_error() && part.error_code() != "WRONGTYPE") {
            slot_.on_reply(p);
            delete this;
            return;
        }
    }
    std::string out;
    resp::append_array_header(out, static_cast<std::int64_t>(parts_.size()));
    for (const auto& p : parts_) {
        const resp::reply_view part(p);
        // WRONGTYPE is nil in MGET; a RESP2 null (from the herd engine's RESP2 reads) is the
        // client's own null.
        if (part.is_error() || part.is_null()) out += resp::null_reply(protocol_);
        else out += p;
    }
    slot_.on_reply(out);
    delete this;
}

}  // namespace herdguard
