#include "herdguard/server/info_reply.h"

#include "herdguard/resp/reply.h"
#include "herdguard/resp/request_parser.h"

namespace herdguard {

void info_append::on_reply(std::string_view raw) {
    std::size_t eol = raw.find("\r\n");
    std::int64_t len = -1;
    if (!raw.empty() && raw[0] == '$' && eol != std::string_view::npos &&
        resp::parse_int64(raw.substr(1, eol - 1), len) && len >= 0) {
        std::string body(raw.substr(eol + 2, static_cast<std::size_t>(len)));
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
