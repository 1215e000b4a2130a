// Parsing of human-written durations ("250ms", "2s", "5m", "1h") and sizes ("16kb", "64mb").
// Errors are values: the caller names the file and field.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace herdguard {

using duration = std::chrono::milliseconds;

// Accepts an integer followed by ms, s, m or h (no unit = error, so "5" is never ambiguous).
// Returns nullopt and fills `why` on error.
std::optional<duration> parse_duration(std::string_view text, std::string* why = nullptr);

// Accepts an integer with an optional unit b, kb, mb, gb (powers of 1024, case-insensitive,
// as Redis's config does). No unit means bytes.
std::optional<std::uint64_t> parse_size(std::string_view text, std::string* why = nullptr);

// Formats a duration the way the config is written: "1500ms", "2s", "5m".
std::string format_duration(duration d);

}  // namespace herdguard
