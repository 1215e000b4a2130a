#include "herdguard/resp/key_slot.h"

#include <array>
#include <string>
#include <vector>

namespace herdguard::resp {

namespace {

constexpr std::array<std::uint16_t, 256> make_crc_table() {
    std::array<std::uint16_t, 256> table{};
    for (unsigned i = 0; i < 256; ++i) {
        std::uint16_t crc = static_cast<std::uint16_t>(i << 8);
        for (int bit = 0; bit < 8; ++bit)
            crc = static_cast<std::uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
        table[i] = crc;
    }
    return table;
}
constexpr auto crc_table = make_crc_table();

// Every slot's tag, found by walking the strings of [0-9a-z] by length, then in order, until
// each slot has one (length 4 at most: 36^4 strings leave no slot without one; tested).
std::vector<std::string> make_tags() {
    static constexpr std::string_view alphabet = "0123456789abcdefghijklmnopqrstuvwxyz";
    std::vector<std::string> tags(slot_count);
    std::size_t found = 0;
    std::size_t count = 1;  // strings of this length: 36^len
    for (std::size_t len = 1; len <= 4 && found < slot_count; ++len) {
        count *= alphabet.size();
        std::string s(len, alphabet[0]);
        for (std::size_t n = 0; n < count && found < slot_count; ++n) {
            for (std::size_t i = 0, rest = n; i < len; ++i, rest /= alphabet.size())
                s[len - 1 - i] = alphabet[rest % alphabet.size()];
            auto& tag = tags[key_slot(s)];
            if (tag.empty()) {
                tag = s;
                ++found;
            }
        }
    }
    return tags;
}

}  // namespace

std::uint16_t crc16(std::string_view data) {
    std::uint16_t crc = 0;
    for (unsigned char c : data) crc = static_cast<std::uint16_t>((crc << 8) ^ crc_table[((crc >> 8) ^ c) & 0xff]);
    return crc;
}

std::string_view hash_tag(std::string_view key) {
    const auto open = key.find('{');
    if (open == std::string_view::npos) return key;
    const auto close = key.find('}', open + 1);
    if (close == std::string_view::npos || close == open + 1) return key;
    return key.substr(open + 1, close - open - 1);
}

std::uint16_t key_slot(std::string_view key) { return crc16(hash_tag(key)) & (slot_count - 1); }

std::string_view tag_of_slot(std::uint16_t slot) {
    static const std::vector<std::string> tags = make_tags();
    return tags[slot % slot_count];
}

}  // namespace herdguard::resp
