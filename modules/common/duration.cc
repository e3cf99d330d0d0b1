#include "duration.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <limits>

namespace suite {
namespace {

struct NumberAndUnit {
    double number = 0;
    std::string_view unit;
    bool ok = false;
};

NumberAndUnit split_number(std::string_view text) {
    NumberAndUnit out;
    size_t i = 0;
    bool seen_digit = false, seen_dot = false;
    while (i < text.size() &&
           (std::isdigit(static_cast<unsigned char>(text[i])) || (text[i] == '.' && !seen_dot))) {
        seen_dot |= text[i] == '.';
        seen_digit |= text[i] != '.';
        ++i;
    }
    if (!seen_digit || i > 32) return out;
    std::string digits(text.substr(0, i));
    char* end = nullptr;
    out.number = std::strtod(digits.c_str(), &end);
    out.unit = text.substr(i);
    out.ok = end && *end == '\0' && std::isfinite(out.number);
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(a[i])) !=
            std::tolower(static_cast<unsigned char>(b[i])))
            return false;
    return true;
}

}  // namespace

Parsed<std::chrono::nanoseconds> parse_duration(std::string_view text,
                                                std::chrono::nanoseconds default_unit) {
    Parsed<std::chrono::nanoseconds> out;
    NumberAndUnit nu = split_number(text);
    if (!nu.ok) {
        out.error = "'" + std::string(text) +
                    "' is not a duration (expected a number with unit us, ms, s, m or h)";
        return out;
    }
    double unit_ns;
    if (nu.unit.empty())
        unit_ns = static_cast<double>(default_unit.count());
    else if (nu.unit == "us")
        unit_ns = 1e3;
    else if (nu.unit == "ms")
        unit_ns = 1e6;
    else if (nu.unit == "s")
        unit_ns = 1e9;
    else if (nu.unit == "m" || nu.unit == "min")
        unit_ns = 60e9;
    else if (nu.unit == "h")
        unit_ns = 3600e9;
    else {
        out.error = "unknown unit '" + std::string(nu.unit) + "' in '" + std::string(text) +
                    "' (use us, ms, s, m or h)";
        return out;
    }
    double ns = nu.number * unit_ns;
    // One year is far beyond any timer the suite has; it also keeps int64 arithmetic safe.
    constexpr double kLongestDurationNs = 365.0 * 24 * 3600 * 1e9;
    if (ns > kLongestDurationNs) {
        out.error = "'" + std::string(text) + "' is longer than a year";
        return out;
    }
    out.value = std::chrono::nanoseconds(static_cast<std::int64_t>(std::llround(ns)));
    return out;
}

Parsed<std::uint64_t> parse_size(std::string_view text) {
    Parsed<std::uint64_t> out;
    NumberAndUnit nu = split_number(text);
    if (!nu.ok) {
        out.error = "'" + std::string(text) + "' is not a size (expected a number with k, M or G)";
        return out;
    }
    std::string_view unit = nu.unit;
    if (!unit.empty() && (unit.back() == 'B' || unit.back() == 'b') && unit.size() > 1)
        unit.remove_suffix(1);
    double scale;
    if (unit.empty() || iequals(unit, "b"))
        scale = 1;
    else if (iequals(unit, "k"))
        scale = 1024.0;
    else if (iequals(unit, "m"))
        scale = 1024.0 * 1024;
    else if (iequals(unit, "g"))
        scale = 1024.0 * 1024 * 1024;
    else {
        out.error = "unknown unit '" + std::string(nu.unit) + "' in '" + std::string(text) +
                    "' (use k, M or G)";
        return out;
    }
    double bytes = nu.number * scale;
    if (bytes >= static_cast<double>(std::numeric_limits<std::int64_t>::max())) {
        out.error = "'" + std::string(text) + "' is too large";
        return out;
    }
    out.value = static_cast<std::uint64_t>(std::llround(bytes));
    return out;
}

std::string format_duration(std::chrono::nanoseconds d) {
    using namespace std::chrono;
    auto ns = d.count();
    constexpr std::int64_t kSecond = 1'000'000'000;
    if (ns != 0 && ns % (3600 * kSecond) == 0) return std::to_string(ns / (3600 * kSecond)) + "h";
    if (ns != 0 && ns % (60 * kSecond) == 0) return std::to_string(ns / (60 * kSecond)) + "m";
    if (ns != 0 && ns % kSecond == 0) return std::to_string(ns / kSecond) + "s";
    if (ns != 0 && ns % 1'000'000 == 0) return std::to_string(ns / 1'000'000) + "ms";
    if (ns % 1'000 == 0) return std::to_string(ns / 1'000) + "us";
    return std::to_string(ns) + "ns";
}

}  // namespace suite
