// Shared helpers for the libFuzzer targets in fuzz/. Header-only, no herdguard dependencies.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>

namespace fuzz {

// A property violation: say which one (libFuzzer then prints the stack and saves the input).
[[noreturn]] inline void fail(const char* what, const char* file, int line) {
    std::fprintf(stderr, "\n*** fuzz property violated: %s (%s:%d)\n", what, file, line);
    std::fflush(stderr);
    std::abort();
}

#define FUZZ_CHECK(cond)                                    \
    do {                                                    \
        if (!(cond)) ::fuzz::fail(#cond, __FILE__, __LINE__); \
    } while (0)

// A heap copy of exactly `s.size()` bytes, so that AddressSanitizer reports any read one byte
// past what the code under test was given (a std::string would have spare capacity and a NUL).
class exact_buffer {
public:
    explicit exact_buffer(std::string_view s) : size_(s.size()), data_(new char[s.size() ? s.size() : 1]) {
        if (size_ != 0) std::memcpy(data_.get(), s.data(), size_);
    }
    std::string_view view() const { return {data_.get(), size_}; }
    const char* begin() const { return data_.get(); }
    const char* end() const { return data_.get() + size_; }

private:
    std::size_t size_;
    std::unique_ptr<char[]> data_;
};

// True when `inner` lies entirely inside [lo, hi). Compared as integers: pointers into different
// objects are not ordered by the language.
inline bool view_inside(std::string_view inner, const char* lo, const char* hi) {
    auto p = reinterpret_cast<std::uintptr_t>(inner.data());
    auto l = reinterpret_cast<std::uintptr_t>(lo);
    auto h = reinterpret_cast<std::uintptr_t>(hi);
    if (inner.empty()) return p >= l && p <= h;
    return p >= l && p <= h && inner.size() <= h - p;
}

// Chunk sizes for streaming an input, cycling through a few header bytes: sizes 1..256.
class chunker {
public:
    chunker(const std::uint8_t* sizes, std::size_t n) : sizes_(sizes), n_(n) {}
    std::size_t next() {
        if (n_ == 0) return 4096;
        std::size_t s = static_cast<std::size_t>(sizes_[i_ % n_]) + 1;
        ++i_;
        return s;
    }

private:
    const std::uint8_t* sizes_;
    std::size_t n_;
    std::size_t i_ = 0;
};

}  // namespace fuzz
