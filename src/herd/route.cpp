#include "herdguard/herd/route.h"


namespace herdguard {

key_pattern::key_pattern(std::string glob) : glob_(std::move(glob)) {}

namespace {

// Literal segments in order, each placed at its earliest position after the one before; the last
// must end the key. With '*' as the only wildcard, the earliest placement never rules out a
// match, and it gives each star its shortest capture, as backtracking that tries shortest first
// would. No backtracking, so O(key x pattern) whatever the key: a backtracking matcher is
// polynomial in the key with the number of stars as exponent, and keys come from clients.
bool match_glob(std::string_view pat, std::string_view key, std::vector<std::string_view>* caps) {
    std::size_t star = pat.find('*');
    if (star == std::string_view::npos) return pat == key;
    if (key.substr(0, star) != pat.substr(0, star)) return false;
    std::size_t pos = star;
    pat.remove_prefix(star + 1);
    for (;;) {
        const std::size_t next = pat.find('*');
        if (next == std::string_view::npos) {  // the last segment ends the key
            if (key.size() < pos + pat.size() || key.substr(key.size() - pat.size()) != pat) return false;
            if (caps) caps->push_back(key.substr(pos, key.size() - pat.size() - pos));
            return true;
        }
        const std::size_t at = key.find(pat.substr(0, next), pos);
        if (at == std::string_view::npos) return false;
        if (caps) caps->push_back(key.substr(pos, at - pos));
        pos = at + next;
        pat.remove_prefix(next + 1);
    }
}

}  // namespace

bool key_pattern::match(std::string_view key, std::vector<std::string_view>* captures) const {
    if (captures) captures->clear();
    const bool matched = match_glob(glob_, key, captures);
    if (!matched && captures) captures->clear();
    return matched;
}

}  // namespace herdguard
