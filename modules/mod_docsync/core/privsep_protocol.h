// The messages between the unprivileged sync worker and the privileged helper (root).
//
// The helper reads nothing else from the worker, and never a path: a request names a source by
// its index in the configuration, and the helper swaps the staging and live directories it knows
// from that configuration. The grammar is fixed and tiny so that a compromised worker can send the
// helper nothing but "swap source i" — anything else is refused whole.
//
//   worker → helper   "swap source <index> generation <n>"   (decimal, no sign, no leading zero)
//   helper → worker   "swapped <n>" | "refused <n> <errno>" | "restarted"
//
// Each message is one SOCK_SEQPACKET datagram of at most kMaxPrivsepMessageBytes; a generation is
// larger than every one before it, so a message replayed or reordered by a confused worker is
// refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace docsync {

inline constexpr std::size_t kMaxPrivsepMessageBytes = 64;

struct SwapRequest {
    std::size_t source_index = 0;
    std::uint64_t generation = 0;
};

std::string format_swap_request(const SwapRequest& r);
// The request exactly as format_swap_request writes it, or nothing.
std::optional<SwapRequest> parse_swap_request(std::string_view message);

// What the helper does with one datagram of `length` bytes (`length` may exceed the buffer: it
// is what recv(MSG_TRUNC) reports). `graceful[i]` says whether source i is restart=graceful;
// `last_generation` is the newest generation accepted so far. Either a request to carry out, or
// the reason it is refused.
struct SwapDecision {
    std::optional<SwapRequest> request;
    const char* refusal = nullptr;
};
SwapDecision decide_swap(std::string_view message, std::size_t length,
                         const std::vector<bool>& graceful, std::uint64_t last_generation);

enum class HelperReplyKind { kSwapped, kRefused, kRestarted };

struct HelperReply {
    HelperReplyKind kind = HelperReplyKind::kRefused;
    std::uint64_t generation = 0;  // swapped, refused
    int error = 0;                 // refused: errno of the failed step
};

std::string format_helper_reply(const HelperReply& r);
std::optional<HelperReply> parse_helper_reply(std::string_view message);

}  // namespace docsync
