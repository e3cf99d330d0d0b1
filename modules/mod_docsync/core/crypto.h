// SHA-256, HMAC-SHA256 and randomness over OpenSSL, with the small conveniences the sync
// protocol needs (hex, constant-time comparison). OpenSSL does the cryptography; this file only
// owns the contexts (RAII) and the encodings.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace docsync {

inline constexpr std::size_t kSha256Bytes = 32;
inline constexpr std::size_t kSha256HexChars = 2 * kSha256Bytes;

// Incremental SHA-256; digest as 64 lowercase hex characters.
class Sha256 {
  public:
    Sha256();
    ~Sha256();
    Sha256(const Sha256&) = delete;
    Sha256& operator=(const Sha256&) = delete;
    void update(const void* data, std::size_t len);
    std::string hex_digest();  // finishes the hash; the object must not be updated afterwards

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

std::string sha256_hex(std::string_view data);
std::string hmac_sha256_hex(std::string_view key, std::string_view message);
std::string to_hex(const void* data, std::size_t len);
bool is_lower_hex(std::string_view s);

// Equal-length strings are compared without an early exit, so a forger learns nothing from the
// time a MAC comparison takes.
bool constant_time_equal(std::string_view a, std::string_view b);

// `bytes` random bytes from the OS CSPRNG (through OpenSSL), hex-encoded.
std::string random_hex(std::size_t bytes);

}  // namespace docsync
