#pragma once
// What the metrics tests look for: one whole line of an exposition page.
#include <string>

inline bool has_line(const std::string& page, const std::string& line) {
    return page.find("\n" + line + "\n") != std::string::npos;
}
