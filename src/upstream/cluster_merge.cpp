#include "herdguard/upstream/cluster_merge.h"

#include <charconv>
#include <limits>
#include <unordered_map>

#include "herdguard/resp/key_slot.h"
#include "herdguard/resp/reply.h"
#include "herdguard/resp/reply_framer.h"
#include "herdguard/resp/reply_view.h"

namespace herdguard {

namespace {

constexpr std::string_view ok_reply = "+OK\r\n";

bool is_array(std::string_view reply) {
    const auto type = resp::reply_view(reply).type();
    return type == resp::reply_type::array || type == resp::reply_type::set;
}

// The elements of an array (or RESP3 set) reply, as the exact bytes of each; nullopt when the
// reply is not an array or does not frame.
std::optional<std::vector<std::string_view>> elements_of(std::string_view reply) {
    const resp::reply_view view(reply);
    if (!is_array(reply)) return std::nullopt;
    std::int64_t count = 0;
    if (!resp::parse_int64(view.line(), count) || count < 0) return std::nullopt;
    std::size_t at = reply.find("\r\n") + 2;
    // Every element takes at least 3 bytes ("_\r\n"): a larger count is a broken header, and
    // reserving it would throw.
    if (static_cast<std::uint64_t>(count) > (reply.size() - at) / 3) return std::nullopt;
    std::vector<std::string_view> out;
    out.reserve(static_cast<std::size_t>(count));
    resp::reply_framer framer;
    for (std::int64_t i = 0; i < count; ++i) {
        std::size_t length = 0;
        if (framer.feed(reply.substr(at), length) != resp::frame_status::complete) return std::nullopt;
        out.push_back(reply.substr(at, length));
        at += length;
    }
    return out;
}

const std::string* first_error(std::span<const std::string> replies) {
    for (const auto& r : replies)
        if (resp::reply_view(r).is_error()) return &r;
    return nullptr;
}

std::string unreadable() { return resp::error_reply("ERR herdguard: unreadable reply from a cluster node"); }

std::string values_in_order(std::span<const std::string> replies, std::span<const cluster_part> parts,
                            std::size_t total_keys) {
    // A missing reply or a position past the end would send the client values it never had.
    if (replies.size() != parts.size()) return unreadable();
    std::vector<std::string_view> values(total_keys, "$-1\r\n");
    for (std::size_t p = 0; p < parts.size(); ++p) {
        const auto& positions = parts[p].positions;
        for (auto pos : positions)
            if (pos >= total_keys) return unreadable();
        if (resp::reply_view(replies[p]).is_error()) {
            for (auto pos : positions) values[pos] = replies[p];
            continue;
        }
        const auto elements = elements_of(replies[p]);
        if (!elements || elements->size() != positions.size()) return unreadable();
        for (std::size_t i = 0; i < positions.size(); ++i) values[positions[i]] = (*elements)[i];
    }
    std::string out;
    resp::append_array_header(out, static_cast<std::int64_t>(total_keys));
    for (auto v : values) out.append(v);
    return out;
}

std::string sum(std::span<const std::string> replies) {
    if (const auto* e = first_error(replies)) return *e;
    std::int64_t total = 0;
    for (const auto& r : replies) {
        const auto n = resp::reply_view(r).integer();
        if (!n) return unreadable();
        total += *n;
    }
    std::string out;
    resp::append_integer(out, total);
    return out;
}

std::string all_ok(std::span<const std::string> replies) {
    for (const auto& r : replies)
        if (r != ok_reply) return r;
    return std::string(ok_reply);
}

std::string concat(std::span<const std::string> replies) {
    if (const auto* e = first_error(replies)) return *e;
    if (replies.empty()) return "*0\r\n";
    std::vector<std::string_view> all;
    for (const auto& r : replies) {
        const auto elements = elements_of(r);
        if (!elements) return unreadable();
        all.insert(all.end(), elements->begin(), elements->end());
    }
    std::string out(1, replies.front()[0]);  // '*', or RESP3's '~'
    out += std::to_string(all.size()) + "\r\n";
    for (auto e : all) out.append(e);
    return out;
}

std::string same(std::span<const std::string> replies) {
    if (const auto* e = first_error(replies)) return *e;
    if (replies.empty()) return unreadable();
    for (const auto& r : replies)
        if (r != replies.front())
            return resp::error_reply("ERR herdguard: the cluster's masters answered differently");
    return replies.front();
}

// INFO's text as one endpoint shows it: "cluster_enabled:0". A bulk or verbatim string; the
// replacement keeps the length, so only the digit changes.
std::string info(std::string reply) {
    const auto at = reply.find("cluster_enabled:1");
    if (at != std::string::npos) reply[at + std::string_view("cluster_enabled:").size()] = '0';
    return reply;
}

bool parse_u64(std::string_view text, std::uint64_t& value) {
    if (text.empty()) return false;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    return ec == std::errc() && end == text.data() + text.size();
}

std::optional<std::string> encode_cursor(std::uint64_t node_cursor, std::size_t index, std::size_t masters) {
    constexpr auto max = std::numeric_limits<std::uint64_t>::max();
    if (node_cursor > (max - index) / masters) return std::nullopt;
    return std::to_string(node_cursor * masters + index);
}

}  // namespace

std::vector<cluster_part> split_by_slot(std::span<const std::string_view> argv, const cluster_plan& plan) {
    std::vector<cluster_part> parts;
    const std::size_t stride = plan.stride == 0 ? 1 : plan.stride;
    if (argv.size() <= plan.first_key || (argv.size() - plan.first_key) % stride != 0) return parts;
    // Slot to index in `parts`: an MGET of thousands of keys has about as many slots, and a
    // linear search per key would be quadratic on the worker's thread.
    std::unordered_map<std::uint16_t, std::size_t> part_of_slot;
    std::size_t key_index = 0;
    for (std::size_t i = plan.first_key; i < argv.size(); i += stride, ++key_index) {
        const auto slot = resp::key_slot(argv[i]);
        const auto [found, added] = part_of_slot.try_emplace(slot, parts.size());
        if (added) {
            auto& fresh = parts.emplace_back();
            fresh.slot = slot;
            fresh.argv.assign(argv.begin(), argv.begin() + static_cast<std::ptrdiff_t>(plan.first_key));
        }
        cluster_part& part = parts[found->second];
        part.positions.push_back(key_index);
        part.argv.insert(part.argv.end(), argv.begin() + static_cast<std::ptrdiff_t>(i),
                          argv.begin() + static_cast<std::ptrdiff_t>(i + stride));
    }
    return parts;
}

std::string merge_cluster_replies(cluster_merge how, std::span<const std::string> replies,
                                  std::span<const cluster_part> parts, std::size_t total_keys) {
    switch (how) {
        case cluster_merge::values_in_order: return values_in_order(replies, parts, total_keys);
        case cluster_merge::sum: return sum(replies);
        case cluster_merge::all_ok: return all_ok(replies);
        case cluster_merge::any_ok:
            for (const auto& r : replies)
                if (r == ok_reply) return std::string(ok_reply);
            return replies.empty() ? unreadable() : replies.front();
        case cluster_merge::concat: return concat(replies);
        case cluster_merge::same: return same(replies);
        case cluster_merge::info: return replies.empty() ? unreadable() : info(replies.front());
        case cluster_merge::none:
        case cluster_merge::scan: break;
    }
    return replies.empty() ? unreadable() : replies.front();
}

std::optional<scan_position> decode_scan_cursor(std::string_view cursor, std::size_t masters) {
    std::uint64_t value = 0;
    if (masters == 0 || !parse_u64(cursor, value)) return std::nullopt;
    return scan_position{static_cast<std::size_t>(value % masters), std::to_string(value / masters)};
}

std::optional<std::string> rewrite_scan_reply(std::string_view reply, std::size_t index, std::size_t masters) {
    if (resp::reply_view(reply).is_error()) return std::string(reply);
    const auto elements = elements_of(reply);
    if (!elements || elements->size() != 2 || !is_array((*elements)[1])) return std::nullopt;
    const auto cursor = resp::reply_view((*elements)[0]).bulk();
    std::uint64_t node_cursor = 0;
    if (!cursor || !parse_u64(*cursor, node_cursor)) return std::nullopt;
    std::optional<std::string> next;
    if (node_cursor != 0) next = encode_cursor(node_cursor, index, masters);
    else if (index + 1 < masters) next = encode_cursor(0, index + 1, masters);
    else next = "0";
    if (!next) return std::nullopt;
    std::string out = "*2\r\n";
    resp::append_bulk(out, *next);
    out.append((*elements)[1]);
    return out;
}

}  // namespace herdguard
