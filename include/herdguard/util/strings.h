// ASCII case folding, as Redis matches command names, subcommands and keywords. Not the C
// library's tolower(): that is locale-dependent and an out-of-line call on the hot path, where
// every request's command name is folded.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>

namespace herdguard {

constexpr char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// Always inlined: on the command path it compares argv[0] with short literals, where the
// inlined length check settles most cases; GCC outlined it once a TU had many calls, and the
// calls cost ~55 instructions per pass-through command (callgrind).
[[gnu::always_inline]] constexpr bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i)
        if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
    return true;
}

// `a` is one of `names`, ignoring ASCII case (a command or subcommand among a few literals).
constexpr bool iequals_any(std::string_view a, std::initializer_list<std::string_view> names) {
    for (auto n : names)
        if (iequals(a, n)) return true;
    return false;
}

// Calls fn(piece) for each non-empty piece of `s` between `sep`s ("a b  c" by ' ': a, b, c).
template <class Fn>
void for_each_piece(std::string_view s, char sep, Fn&& fn) {
    std::size_t at = 0;
    while (at < s.size()) {
        std::size_t end = s.find(sep, at);
        if (end == std::string_view::npos) end = s.size();
        if (end > at) fn(s.substr(at, end - at));
        at = end + 1;
    }
}

inline std::string ascii_lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = ascii_lower(c);
    return out;
}

}  // namespace herdguard
