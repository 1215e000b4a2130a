#include "herdguard/upstream/reply_pipeline.h"

namespace herdguard {

reply_pipeline::delivery reply_pipeline::deliver(std::string_view data, std::size_t& consumed,
                                                 const std::function<void(std::string_view)>& push_sink,
                                                 const bool& stopped) {
    consumed = 0;
    while (consumed < data.size()) {
        std::size_t length = 0;
        const auto st = framer_.feed(data.substr(consumed), length);
        if (st == resp::frame_status::need_more) break;
        if (st == resp::frame_status::error) return delivery::bad_reply;
        const std::string_view reply = data.substr(consumed, length);
        consumed += length;
        if (reply[0] == '>') {  // a RESP3 push: out of band, whatever is pending
            if (push_sink) push_sink(reply);
            else ++pushes_dropped_;
        } else if (!pending_.empty()) {
            reply_handler* h = pending_.front().handler;
            pending_.pop_front();
            h->on_reply(reply);
        } else if (push_sink) {
            push_sink(reply);
        } else {
            framer_.reset();
            return delivery::unexpected_reply;
        }
        if (stopped) break;
    }
    return delivery::ok;
}

}  // namespace herdguard
