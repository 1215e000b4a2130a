#include "herdguard/upstream/cluster_redirect.h"

#include <charconv>

namespace herdguard {

namespace {

bool to_number(std::string_view text, std::uint32_t& out) {
    const char* end = text.data() + text.size();
    const auto [ptr, ec] = std::from_chars(text.data(), end, out);
    return !text.empty() && ec == std::errc() && ptr == end;
}

bool starts_with_word(std::string_view text, std::string_view word) {
    return text.starts_with(word) && (text.size() == word.size() || text[word.size()] == ' ');
}

}  // namespace

cluster_redirect read_cluster_redirect(std::string_view error) {
    if (error.starts_with("-")) error.remove_prefix(1);
    while (error.ends_with("\r\n")) error.remove_suffix(2);
    cluster_redirect r;
    if (starts_with_word(error, "TRYAGAIN") || starts_with_word(error, "CLUSTERDOWN") ||
        starts_with_word(error, "LOADING")) {
        r.what = cluster_redirect::kind::retry;
        return r;
    }
    const bool moved = starts_with_word(error, "MOVED");
    if (!moved && !starts_with_word(error, "ASK")) return r;
    const std::size_t skip = moved ? 6 : 4;  // "MOVED " or "ASK "
    if (error.size() <= skip) return r;
    std::string_view rest = error.substr(skip);
    const auto space = rest.find(' ');
    if (space == std::string_view::npos) return r;
    const auto colon = rest.rfind(':');
    if (colon == std::string_view::npos || colon < space) return r;
    std::uint32_t slot = 0, port = 0;
    if (!to_number(rest.substr(0, space), slot) || slot >= 16384) return r;
    if (!to_number(rest.substr(colon + 1), port) || port == 0 || port > 65535) return r;
    r.what = moved ? cluster_redirect::kind::moved : cluster_redirect::kind::ask;
    r.slot = static_cast<std::uint16_t>(slot);
    r.host = std::string(rest.substr(space + 1, colon - space - 1));
    r.port = static_cast<std::uint16_t>(port);
    return r;
}

std::string cluster_redirect::address(std::string_view answered) const {
    const std::string_view h =
        host.empty() || host == "?" ? answered.substr(0, answered.rfind(':')) : std::string_view(host);
    return std::string(h) + ":" + std::to_string(port);
}

}  // namespace herdguard
