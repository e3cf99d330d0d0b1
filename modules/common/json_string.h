// The one JSON string encoder of the suite (RFC 8259 section 7): quotes, backslashes and every
// control character are escaped; well-formed UTF-8 passes through unchanged, and every byte that
// is not part of it becomes U+FFFD, so the result is valid JSON whatever the input.
// Status pages put names from configuration and from the network into JSON through it.
#pragma once

#include <string>
#include <string_view>

namespace suite {

// Length of the well-formed UTF-8 sequence of two or more bytes at the start of `s` (RFC 3629:
// no overlongs, no surrogates, nothing above U+10FFFF), or 0 (also for ASCII). The metrics
// writer uses it too.
std::size_t utf8_sequence_length(std::string_view s);

// `text` as a JSON string literal, quotes included.
std::string json_string(std::string_view text);

}  // namespace suite
