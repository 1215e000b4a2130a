#include "herdguard/server/reply_queue.h"

namespace herdguard {

reply_queue::slot& reply_queue::expect(bool suppress) {
    auto& s = slots_.emplace_back();
    s.queue_ = this;
    s.suppress_ = suppress;
    ++outstanding_;
    return s;
}

void reply_queue::mark_blocking(slot& s) {
    s.blocks_ = true;
    if (&s == &slots_.front()) sink_.flush_now();  // everything before it is out of the queue
}

void reply_queue::push_ready(std::string_view bytes, bool suppress) {
    auto& s = slots_.emplace_back();
    s.queue_ = this;
    s.suppress_ = suppress;
    s.ready_ = true;
    if (!suppress) s.data_.assign(bytes);
    drain();
}

void reply_queue::complete(slot& s, std::string_view bytes) {
    --outstanding_;
    s.ready_ = true;
    if (&s == &slots_.front()) {
        // The common case: the oldest reply arrived; it goes out without a copy here.
        if (!s.suppress_) sink_.write_reply(bytes);
        slots_.pop_front();
        drain();
        if (!slots_.empty() && slots_.front().blocks_ && !slots_.front().ready_) sink_.flush_now();
    } else if (!s.suppress_) {
        s.data_.assign(bytes);
    }
    if (outstanding_ == 0) sink_.all_answered();
}

void reply_queue::drain() {
    bool wrote = false;
    while (!slots_.empty() && slots_.front().ready_) {
        auto& s = slots_.front();
        if (!s.suppress_) sink_.write_reply(s.data_);
        slots_.pop_front();
        wrote = true;
    }
    if (wrote && !slots_.empty() && slots_.front().blocks_) sink_.flush_now();
}

}  // namespace herdguard
