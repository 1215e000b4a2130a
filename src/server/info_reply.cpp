#include "herdguard/server/info_reply.h"

#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_view.h"

namespace herdguard {

void info_append::on_reply(std::string_view raw) {
    const resp::reply_view reply(raw);
    const auto type = reply.type();
    // RESP2's bulk string, or RESP3's verbatim string (its "txt:" stays at the front of the body).
    const bool text = type == resp::reply_type::bulk || type == resp::reply_type::verbatim;
    if (auto body_in = text ? reply.bulk() : std::nullopt) {
        std::string body(*body_in);
        body += "\r\n" + section_;
        std::string out;
        if (type == resp::reply_type::bulk) {
            resp::append_bulk(out, body);
        } else {
            out += '=';
            out += std::to_string(body.size());
            out += "\r\n";
            out += body;
            out += "\r\n";
        }
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
