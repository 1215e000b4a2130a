// Per-operation handler storage, so the hot path allocates nothing per read, write or post.
//
// Asio allocates each pending operation through the handler's associated allocator. Its default
// recycles only a couple of blocks per thread, which a proxy with hundreds of connections in
// flight overflows on every operation (callgrind: ~4 malloc/free pairs per request). An object
// that has at most one operation of a kind pending at a time (a session's read, its write, its
// resume) gives that kind a small inline buffer; anything larger, or a second concurrent use,
// falls back to the heap.
#pragma once

#include <cstddef>
#include <new>

namespace herdguard {

class handler_memory {
public:
    handler_memory() = default;
    handler_memory(const handler_memory&) = delete;
    handler_memory& operator=(const handler_memory&) = delete;

    void* allocate(std::size_t size) {
        if (!in_use_ && size <= sizeof(storage_)) {
            in_use_ = true;
            return &storage_;
        }
        return ::operator new(size);
    }
    void deallocate(void* p) {
        if (p == &storage_) in_use_ = false;
        else ::operator delete(p);
    }

private:
    alignas(std::max_align_t) unsigned char storage_[384];
    bool in_use_ = false;
};

template <typename T>
class handler_allocator {
public:
    using value_type = T;
    explicit handler_allocator(handler_memory& m) : memory_(&m) {}
    template <typename U>
    handler_allocator(const handler_allocator<U>& other) noexcept : memory_(other.memory_) {}

    T* allocate(std::size_t n) { return static_cast<T*>(memory_->allocate(sizeof(T) * n)); }
    void deallocate(T* p, std::size_t) { memory_->deallocate(p); }

    template <typename U>
    bool operator==(const handler_allocator<U>& other) const noexcept { return memory_ == other.memory_; }

private:
    template <typename>
    friend class handler_allocator;
    handler_memory* memory_;
};

}  // namespace herdguard
