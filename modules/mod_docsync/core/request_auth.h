// HMAC-SHA256 request signatures between a secondary and the export it syncs from.
//
// The MAC covers "<METHOD>\n<path-and-query>\n<unix-seconds>\n<nonce>"; a request is accepted
// only if the MAC matches, its timestamp is within the allowed skew of this server's clock and
// its nonce has not been seen within that window (replay). Headers:
//   X-DocSync-Time, X-DocSync-Nonce, X-DocSync-Signature.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "nonce_table.h"

namespace docsync {

inline constexpr std::string_view kTimeHeader = "X-DocSync-Time";
inline constexpr std::string_view kNonceHeader = "X-DocSync-Nonce";
inline constexpr std::string_view kSignatureHeader = "X-DocSync-Signature";
inline constexpr std::chrono::seconds kDefaultMaxSkew{60};
inline constexpr std::size_t kMinSecretBytes = 16;
inline constexpr std::size_t kMaxSecretBytes = 4096;
inline constexpr std::size_t kNonceBytes = 16;  // 128 random bits, 32 hex characters
// Bounded replay memory: beyond this many nonces inside the window, requests are refused
// rather than letting a flood grow memory.
inline constexpr std::size_t kMaxRememberedNonces = 200'000;

// Wall-clock seconds since the epoch; tests substitute a fake.
class WallClock {
  public:
    virtual ~WallClock() = default;
    virtual std::int64_t now_seconds() const = 0;
};

class SystemWallClock : public WallClock {
  public:
    std::int64_t now_seconds() const override;
};

struct SignedHeaders {
    std::string time;
    std::string nonce;
    std::string signature;
};

std::string canonical_request(std::string_view method, std::string_view path_and_query,
                              std::string_view time, std::string_view nonce);
SignedHeaders sign_request(std::string_view secret, std::string_view method,
                           std::string_view path_and_query, const WallClock& clock);

enum class AuthResult { kOk, kMissing, kMalformed, kStale, kBadSignature, kReplayed, kOverloaded };
const char* to_string(AuthResult r);

// Where accepted nonces are remembered: by default a set in this process; the module passes a
// NonceTable in shared memory (with the lock that guards it) so all children share one memory.
class SharedNonces {
  public:
    virtual ~SharedNonces() = default;
    virtual NonceResult remember(std::string_view nonce, std::int64_t now,
                                 std::int64_t horizon) = 0;
};

class RequestVerifier {
  public:
    RequestVerifier(std::string secret, const WallClock& clock,
                    std::chrono::seconds max_skew = kDefaultMaxSkew, SharedNonces* shared = nullptr)
        : secret_(std::move(secret)), clock_(clock), max_skew_(max_skew), shared_(shared) {}

    // Headers may be null when absent. Thread-safe.
    AuthResult verify(std::string_view method, std::string_view path_and_query, const char* time,
                      const char* nonce, const char* signature);

  private:
    void expire(std::int64_t now);
    std::string secret_;
    const WallClock& clock_;
    std::chrono::seconds max_skew_;
    SharedNonces* shared_;
    std::mutex mutex_;
    std::unordered_set<std::string> seen_;
    std::deque<std::pair<std::int64_t, std::string>> order_;  // (accepted at, nonce)
};

// Checks the secret file's content and permissions: owned by us or root, not readable or
// writable by others, length bounds. Returns the secret (trailing newline stripped) or sets
// `error`.
std::string load_secret_file(const std::string& path, std::string* error);

}  // namespace docsync
