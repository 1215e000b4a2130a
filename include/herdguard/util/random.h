// The one random generator of each thread: lease tokens, TTL jitter, reconnect backoff and the
// breaker's open-time jitter all draw from it. Seeded once per thread from std::random_device.
// None of these needs cryptographic strength: a lease token only has to differ from the other
// holders' (the lease scripts compare it; nobody guesses it to gain anything).
#pragma once

#include <cstdint>
#include <random>

namespace herdguard {

inline std::mt19937_64& thread_rng() {
    thread_local std::mt19937_64 rng{std::random_device{}()};
    return rng;
}

// One draw, as a plain function (an injectable source: herd_context::random).
inline std::uint64_t thread_random() { return thread_rng()(); }

// Uniform on [0, 1) from a 64-bit draw.
inline double uniform01_from(std::uint64_t bits) { return static_cast<double>(bits >> 11) * 0x1.0p-53; }

// Uniform on [0, 1).
inline double thread_uniform01() { return uniform01_from(thread_random()); }

}  // namespace herdguard
