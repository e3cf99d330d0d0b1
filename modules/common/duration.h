// Parsing of the durations and sizes that directives take ("100ms", "10s", "2m", "64k").
// Pure C++: used by every module's directive handlers and unit-tested alone.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace suite {

// A parse result that carries the reason when the text is not acceptable, so the directive
// handler can name both the directive and what was wrong.
template <class T>
struct Parsed {
    std::optional<T> value;
    std::string error;

    explicit operator bool() const { return value.has_value(); }
};

// "<number>[unit]" with unit one of us, ms, s, m, h; a bare number is `default_unit`.
// Fractions are allowed ("1.5s"); negative values and overflow are rejected.
Parsed<std::chrono::nanoseconds> parse_duration(std::string_view text,
                                                std::chrono::nanoseconds default_unit);

// "<number>[unit]" with unit one of k, M, G (powers of 1024), case-insensitive; optional "B".
Parsed<std::uint64_t> parse_size(std::string_view text);

// Renders a duration the way a directive would take it back ("250ms", "10s").
std::string format_duration(std::chrono::nanoseconds d);

}  // namespace suite
