#include "herdguard/resp/reply_value.h"

#include "herdguard/resp/reply_framer.h"

namespace herdguard::resp {

namespace {

reply_value unreadable() {
    reply_value v;
    v.type = reply_type::error;
    v.str = "ERR herdguard: unreadable reply from redis";
    return v;
}

// Decodes the reply at the start of `raw` and sets `used` to its length; false if it is not one.
bool decode_at(std::string_view raw, reply_value& out, std::size_t& used) {
    reply_framer framer;
    if (framer.feed(raw, used) != frame_status::complete) return false;
    const reply_view view(raw.substr(0, used));
    out.type = view.type();
    if (view.is_null()) {
        out.type = reply_type::null;
        return true;
    }
    switch (out.type) {
        case reply_type::simple:
            out.str = std::string(view.line());
            return true;
        case reply_type::error:
        case reply_type::bulk_error:
            out.str = std::string(view.error_text());
            return true;
        case reply_type::integer:
            if (auto i = view.integer()) {
                out.integer = *i;
                return true;
            }
            return false;
        case reply_type::bulk:
            if (auto b = view.bulk()) {
                out.str = std::string(*b);
                return true;
            }
            return false;
        case reply_type::array:
        case reply_type::set:
        case reply_type::push: {  // a RESP3 push: CLIENT TRACKING's invalidations (l1_tracking)
            std::int64_t count = 0;
            if (!parse_int64(view.line(), count) || count < 0) return false;
            std::size_t pos = view.line().size() + 3;
            out.elements.resize(static_cast<std::size_t>(count));
            for (auto& e : out.elements) {
                std::size_t n = 0;
                if (!decode_at(raw.substr(pos, used - pos), e, n)) return false;
                pos += n;
            }
            return true;
        }
        default:
            return false;  // maps, doubles...: herdguard never asks Redis for one
    }
}

}  // namespace

reply_value decode_reply(std::string_view raw) {
    reply_value v;
    std::size_t used = 0;
    if (!decode_at(raw, v, used) || used != raw.size()) return unreadable();
    return v;
}

}  // namespace herdguard::resp
