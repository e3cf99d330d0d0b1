#include "privsep_protocol.h"

#include <limits>

namespace docsync {

namespace {

constexpr std::size_t kMaxSourceIndexDigits = 4;  // far beyond any configuration
constexpr std::size_t kMaxGenerationDigits = 20;  // uint64; overflow is checked
constexpr int kMaxErrno = 4095;

// Consumes `word` at the front of `s`.
bool take(std::string_view& s, std::string_view word) {
    if (s.substr(0, word.size()) != word) return false;
    s.remove_prefix(word.size());
    return true;
}

// Consumes a canonical decimal number (no sign, no leading zero, at most `max_digits`).
std::optional<std::uint64_t> take_number(std::string_view& s, std::size_t max_digits) {
    std::size_t n = 0;
    while (n < s.size() && s[n] >= '0' && s[n] <= '9') ++n;
    if (n == 0 || n > max_digits || (n > 1 && s[0] == '0')) return std::nullopt;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        std::uint64_t d = static_cast<std::uint64_t>(s[i] - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
        v = v * 10 + d;
    }
    s.remove_prefix(n);
    return v;
}

}  // namespace

std::string format_swap_request(const SwapRequest& r) {
    return "swap source " + std::to_string(r.source_index) + " generation " +
           std::to_string(r.generation);
}

std::optional<SwapRequest> parse_swap_request(std::string_view m) {
    if (m.size() > kMaxPrivsepMessageBytes || !take(m, "swap source ")) return std::nullopt;
    auto index = take_number(m, kMaxSourceIndexDigits);
    if (!index || !take(m, " generation ")) return std::nullopt;
    auto generation = take_number(m, kMaxGenerationDigits);
    if (!generation || !m.empty() || *generation == 0) return std::nullopt;
    return SwapRequest{static_cast<std::size_t>(*index), *generation};
}

SwapDecision decide_swap(std::string_view message, std::size_t length,
                         const std::vector<bool>& graceful, std::uint64_t last_generation) {
    SwapDecision d;
    auto req = length == message.size() ? parse_swap_request(message) : std::nullopt;
    if (!req)
        d.refusal = "not a swap request";
    else if (req->source_index >= graceful.size())
        d.refusal = "no such source";
    else if (!graceful[req->source_index])
        d.refusal = "source is not restart=graceful";
    else if (req->generation <= last_generation)
        d.refusal = "generation not newer than the last";
    else
        d.request = req;
    return d;
}

std::string format_helper_reply(const HelperReply& r) {
    switch (r.kind) {
        case HelperReplyKind::kSwapped:
            return "swapped " + std::to_string(r.generation);
        case HelperReplyKind::kRefused:
            return "refused " + std::to_string(r.generation) + " " + std::to_string(r.error);
        case HelperReplyKind::kRestarted:
            return "restarted";
    }
    return {};
}

std::optional<HelperReply> parse_helper_reply(std::string_view m) {
    if (m.size() > kMaxPrivsepMessageBytes) return std::nullopt;
    HelperReply r;
    if (m == "restarted") {
        r.kind = HelperReplyKind::kRestarted;
        return r;
    }
    if (take(m, "swapped ")) {
        r.kind = HelperReplyKind::kSwapped;
    } else if (take(m, "refused ")) {
        r.kind = HelperReplyKind::kRefused;
    } else {
        return std::nullopt;
    }
    auto generation = take_number(m, kMaxGenerationDigits);
    if (!generation) return std::nullopt;
    r.generation = *generation;
    if (r.kind == HelperReplyKind::kRefused) {
        auto err = take(m, " ") ? take_number(m, 4) : std::nullopt;
        if (!err || *err > static_cast<std::uint64_t>(kMaxErrno)) return std::nullopt;
        r.error = static_cast<int>(*err);
    }
    if (!m.empty()) return std::nullopt;
    return r;
}

}  // namespace docsync
