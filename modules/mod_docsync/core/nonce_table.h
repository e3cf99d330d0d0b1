// Replay memory for request nonces, in a caller-provided block of memory so the httpd adapter
// can place it in shared memory: every child process then refuses a nonce any other child has
// already accepted (a per-process set would let a replay through whenever it reached another
// process). Open addressing with bounded linear probing; a slot whose timestamp is older than
// the replay horizon counts as free. Callers serialise access (a process-shared mutex).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace docsync {

inline constexpr std::size_t kNonceRawBytes = 16;
inline constexpr std::size_t kMaxNonceProbes = 64;

enum class NonceResult { kFresh, kReplayed, kFull };

class NonceTable {
  public:
    static std::size_t bytes_needed(std::size_t capacity);
    // Formats `memory` (bytes_needed(capacity) bytes) as an empty table.
    static NonceTable* create(void* memory, std::size_t capacity);
    // A table formatted earlier (e.g. by the previous server generation), or null if the memory
    // does not hold one.
    static NonceTable* attach(void* memory, std::size_t bytes);

    // `nonce_hex`: 32 lowercase hex characters (validated by the caller). Entries accepted
    // before `horizon` (unix seconds) are forgotten.
    NonceResult remember(std::string_view nonce_hex, std::int64_t now, std::int64_t horizon);
    std::size_t capacity() const { return static_cast<std::size_t>(capacity_); }

  private:
    struct Slot {
        std::int64_t accepted;  // 0: never used
        unsigned char nonce[kNonceRawBytes];
    };
    Slot* slots() { return reinterpret_cast<Slot*>(this + 1); }
    std::uint64_t magic_;
    std::uint64_t capacity_;
};

}  // namespace docsync
