#include "herdguard/server/info_reply.h"

#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_view.h"

namespace herdguard {

void info_append::on_reply(std::string_view raw) {
    const resp::reply_view reply(raw);
    if (auto text = reply.type() == resp::reply_type::bulk ? reply.bulk() : std::nullopt) {
        std::string body(*text);
        body += "\r\n" + section_;
        std::string out;
        resp::append_bulk(out, body);
        slot_.on_reply(out);
    } else {
        slot_.on_reply(raw);
    }
    delete this;
}

void info_append::on_failure(std::string_view error) {
    slot_.on_failure(error);
    delete this;
}

}  // namespace herdguard
