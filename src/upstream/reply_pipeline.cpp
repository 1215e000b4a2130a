#include "herdguard/upstream/reply_pipeline.h"

namespace herdguard {

reply_pipeline::delivery reply_pipeline::deliver(std::string_view data, std::size_t& consumed,
                                                 const std::function<void(std::string_view)>& push_sink,
                                                 const bool& stopped) {
    consumed = 0;
    // Framed up to here; between `consumed` and `pos` lie pushes held for the next reply.
    std::size_t pos = 0;
    while (pos < data.size()) {
        std::size_t length = 0;
        const auto st = framer_.feed(data.substr(pos), length);
        if (st == resp::frame_status::need_more) {
            // Held pushes are framed again with their reply next time, from `consumed`: the
            // framer must start there too.
            if (consumed != pos) framer_.reset();
            break;
        }
        if (st == resp::frame_status::error) return delivery::bad_reply;
        const std::string_view reply = data.substr(pos, length);
        pos += length;
        if (reply[0] == '>') {  // a RESP3 push: out of band, whatever is pending
            if (push_sink) {
                push_sink(reply);
            } else if (!pending_.empty()) {
                // No sink: a connection with no subscription or tracking of its own, so the
                // push is the doing of the command Redis is answering (DEBUG PROTOCOL push, a
                // script's). It goes to that command's client, just before its reply, as Redis
                // sends it.
                continue;
            } else {
                ++pushes_dropped_;
            }
        } else if (!pending_.empty()) {
            reply_handler* h = pending_.front().handler;
            pending_.pop_front();
            h->on_reply(data.substr(consumed, pos - consumed));
        } else if (push_sink) {
            push_sink(reply);
        } else {
            framer_.reset();
            return delivery::unexpected_reply;
        }
        consumed = pos;
        if (stopped) break;
    }
    return delivery::ok;
}

}  // namespace herdguard
