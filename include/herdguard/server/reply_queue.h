// A client's replies, in request order. Requests complete in any order (a local PING at once, a
// Redis reply later, a read-through GET after a load); replies leave strictly in the order the
// requests arrived. The head reply goes straight to the sink without being stored.
//
// Single-threaded: used on its session's executor only.
#pragma once

#include <cstddef>
#include <deque>
#include <string>
#include <string_view>

#include "herdguard/upstream/reply_handler.h"

namespace herdguard {

class reply_queue {
public:
    // Where replies go, in order; and a signal when nothing is outstanding any more.
    class sink {
    public:
        virtual void write_reply(std::string_view bytes) = 0;
        virtual void all_answered() = 0;
        // The replies written so far must go out now: the next one may wait indefinitely (a
        // blocking command), and Redis would not hold back the replies before it either.
        virtual void flush_now() = 0;

    protected:
        ~sink() = default;
    };

    class slot final : public reply_handler {
    public:
        void on_reply(std::string_view raw) override { queue_->complete(*this, raw); }
        void on_failure(std::string_view error) override { queue_->complete(*this, error); }

    private:
        friend class reply_queue;
        reply_queue* queue_ = nullptr;
        std::string data_;
        bool ready_ = false;
        bool suppress_ = false;  // CLIENT REPLY OFF/SKIP: the command runs, its reply is dropped
        bool blocks_ = false;    // a blocking command's: its reply may take any time
    };

    explicit reply_queue(sink& s) : sink_(s) {}
    reply_queue(const reply_queue&) = delete;
    reply_queue& operator=(const reply_queue&) = delete;

    // A slot for a reply still to come. Its address is stable until its reply has been written.
    slot& expect(bool suppress = false);
    // The slot belongs to a blocking command (BLPOP, WAIT, XREAD BLOCK...): whenever it is the
    // oldest unanswered one, the replies before it are flushed at once (sink::flush_now).
    void mark_blocking(slot& s);
    // A reply known now (answered locally); it still waits for the replies before it.
    void push_ready(std::string_view bytes, bool suppress = false);

    std::size_t outstanding() const { return outstanding_; }
    std::size_t queued() const { return slots_.size(); }

private:
    void complete(slot& s, std::string_view bytes);
    void drain();

    sink& sink_;
    std::deque<slot> slots_;  // deque: push_back/pop_front keep other slots' addresses
    std::size_t outstanding_ = 0;
};

}  // namespace herdguard
