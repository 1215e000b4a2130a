#include "herdguard/config/units.h"
#include "herdguard/util/strings.h"

#include <fmt/format.h>

#include <charconv>
#include <cstdint>
#include <limits>

namespace herdguard {
namespace {

bool fail(std::string* why, std::string message) {
    if (why) *why = std::move(message);
    return false;
}

// Splits "250ms" into 250 and "ms". Shared by durations and sizes so both reject the same
// malformed inputs with the same words. `kind` and `units` only shape the messages.
bool split_number(std::string_view text, std::string_view kind, std::string_view units,
                  std::uint64_t& number, std::string_view& unit, std::string* why) {
    if (text.empty()) return fail(why, fmt::format("empty {}", kind));
    if (text.front() == '-') return fail(why, fmt::format("negative {} \"{}\"", kind, text));
    const char* first = text.data();
    const char* last = text.data() + text.size();
    auto [end, ec] = std::from_chars(first, last, number);
    if (end == first) {
        return fail(why, fmt::format("expected a whole number followed by a unit ({}), got \"{}\"",
                                     units, text));
    }
    if (ec == std::errc::result_out_of_range) {
        return fail(why, fmt::format("{} \"{}\" is too large", kind, text));
    }
    unit = std::string_view(end, static_cast<std::size_t>(last - end));
    // "1.5s" would otherwise read as an unknown unit ".5s", which hides what went wrong.
    if (!unit.empty() && (unit.front() == '.' || unit.front() == ',')) {
        return fail(why, fmt::format("{} must be a whole number, got \"{}\"", kind, text));
    }
    return true;
}

}  // namespace

std::optional<duration> parse_duration(std::string_view text, std::string* why) {
    constexpr std::string_view units = "ms, s, m, h";
    std::uint64_t number = 0;
    std::string_view unit;
    if (!split_number(text, "duration", units, number, unit, why)) return std::nullopt;

    std::uint64_t ms_per_unit = 0;
    if (unit.empty()) {
        // A bare "5" could mean seconds or milliseconds depending on who wrote it; refuse to guess.
        fail(why, fmt::format("missing unit ({}) in \"{}\"", units, text));
        return std::nullopt;
    } else if (iequals(unit, "ms")) {
        ms_per_unit = 1;
    } else if (iequals(unit, "s")) {
        ms_per_unit = 1000;
    } else if (iequals(unit, "m")) {
        ms_per_unit = 60'000;
    } else if (iequals(unit, "h")) {
        ms_per_unit = 3'600'000;
    } else {
        fail(why, fmt::format("unknown unit \"{}\" in \"{}\" (use {})", unit, text, units));
        return std::nullopt;
    }

    constexpr auto max_ms = static_cast<std::uint64_t>(std::numeric_limits<duration::rep>::max());
    if (number > max_ms / ms_per_unit) {
        fail(why, fmt::format("duration \"{}\" is too large", text));
        return std::nullopt;
    }
    return duration(static_cast<duration::rep>(number * ms_per_unit));
}

std::optional<std::uint64_t> parse_size(std::string_view text, std::string* why) {
    constexpr std::string_view units = "b, kb, mb, gb";
    std::uint64_t number = 0;
    std::string_view unit;
    if (!split_number(text, "size", units, number, unit, why)) return std::nullopt;

    unsigned shift = 0;
    if (unit.empty() || iequals(unit, "b")) {
        shift = 0;
    } else if (iequals(unit, "kb")) {
        shift = 10;
    } else if (iequals(unit, "mb")) {
        shift = 20;
    } else if (iequals(unit, "gb")) {
        shift = 30;
    } else {
        // Redis reads "1k" as 1000 but "1kb" as 1024; accepting only the latter avoids the trap.
        fail(why, fmt::format("unknown unit \"{}\" in \"{}\" (use {})", unit, text, units));
        return std::nullopt;
    }

    if (number > (std::numeric_limits<std::uint64_t>::max() >> shift)) {
        fail(why, fmt::format("size \"{}\" is too large", text));
        return std::nullopt;
    }
    return number << shift;
}

std::string format_duration(duration d) {
    const auto ms = d.count();
    if (ms == 0) return "0s";
    // Largest unit that divides exactly, so the text parses back to the same value.
    if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
    if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
    if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
    return fmt::format("{}ms", ms);
}

}  // namespace herdguard
