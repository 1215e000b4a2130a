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
    } else if (!s.suppress_) {
        s.data_.assign(bytes);
    }
    if (outstanding_ == 0) sink_.all_answered();
}

// Writes the ready replies at the head. If the head is then a blocking command's, what was
// written goes out now (flushing nothing new is free: the sink has nothing to write).
void reply_queue::drain() {
    while (!slots_.empty() && slots_.front().ready_) {
        auto& s = slots_.front();
        if (!s.suppress_) sink_.write_reply(s.data_);
        slots_.pop_front();
    }
    if (!slots_.empty() && slots_.front().blocks_) sink_.flush_now();
}

}  // namespace herdguard
