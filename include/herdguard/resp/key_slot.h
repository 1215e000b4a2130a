// Where Redis Cluster puts a key: CRC16 (XMODEM: polynomial 0x1021, initial value 0, no
// reflection) of the key's hash tag, modulo 16384 (the Redis Cluster specification, "Key
// distribution model"). The hash tag is what lies between the first '{' and the first '}' after
// it, when that is not empty; otherwise the whole key. So "{user}:a" and "{user}:b" share a
// slot, "{}x" hashes whole, "{{a}}" hashes "{a", "a{b}{c}" hashes "b".
//
// And the other way round, for the herd path's own keys in a cluster (issue 13): tag_of_slot(s)
// is a short string without braces whose slot is s, so "herdguard:{<tag>}:lock:<key>" lands
// in the slot of <key> whatever <key> contains, braces included.
#pragma once

#include <cstdint>
#include <string_view>

namespace herdguard::resp {

inline constexpr std::uint16_t slot_count = 16384;

std::uint16_t crc16(std::string_view data);
// The part of `key` that decides its slot (the hash tag, or the whole key).
std::string_view hash_tag(std::string_view key);
std::uint16_t key_slot(std::string_view key);

// A brace-free tag whose slot is `slot` (< slot_count): 1 to 4 characters of [0-9a-z], the
// first such string in a fixed order, computed once (a table of 16384 entries, ~130 KB).
std::string_view tag_of_slot(std::uint16_t slot);

}  // namespace herdguard::resp
