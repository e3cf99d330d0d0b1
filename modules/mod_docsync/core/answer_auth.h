// Authentication of the primary's answers, bound to the request they answer.
//
// A request MAC (request_auth.h) only proves the secondary asked; without this, anything that
// answers — a relay with a primary of its own, a recording of an old answer — is believed. So
// every answer carries a tag (header X-DocSync-Answer-Auth) over answer_message(): a label of
// its own, the request's nonce, method and path, the status and the headers the secondary acts
// on (ETag, manifest version, manifest kind, content type) and a description of the body:
//   "none"                 the body is not used (errors, 304)
//   "whole <len> <sha256>" the whole body (manifests): checked before a byte of it is parsed
//   "frames"               an authenticated frame stream (answer_stream.h) whose chain starts
//                          at this answer's tag: batches, deltas, ranges
// Two ways to make the tag, chosen by the primary's configuration and required by the
// secondary's:
//   shared secret: HMAC-SHA256 under a key derived from the shared secret with a label of its
//     own (answer keys never equal request keys, so a request MAC is never a valid answer tag);
//   Ed25519 (DocSyncSigningKeyFile / DocSyncVerifyKeyFile): the primary signs with a private
//     key only it holds; secondaries hold the public key, so a compromised secondary can read
//     and ask but cannot impersonate the primary to the others.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace docsync {

inline constexpr std::string_view kAnswerAuthHeader = "X-DocSync-Answer-Auth";
inline constexpr std::string_view kVersionHeader = "X-DocSync-Scanned";
inline constexpr std::size_t kEd25519KeyBytes = 32;
inline constexpr std::size_t kMaxAnswerTagHexChars = 128;  // an Ed25519 signature in hex

// What an answer says besides its body; empty strings for headers an answer does not have.
struct AnswerFacts {
    std::string nonce;   // of the request answered
    std::string method;  // of the request answered
    std::string path;    // path and query, exactly as the request MAC covered it
    long status = 0;
    std::string etag;           // unquoted
    std::string version;        // X-DocSync-Scanned
    std::string manifest_kind;  // X-DocSync-Manifest
    std::string content_type;
    std::string body;  // "none", "whole <len> <sha256>" or "frames"
};

std::string answer_message(const AnswerFacts& facts);
std::string whole_body(std::string_view body);  // "whole <len> <sha256>"

// The primary's half: makes tags (lowercase hex).
class AnswerSigner {
  public:
    virtual ~AnswerSigner() = default;
    virtual std::string tag(std::string_view message) const = 0;
    virtual const char* mode() const = 0;  // "hmac" or "ed25519"
};

// The secondary's half: checks tags in constant time (HMAC) or by signature verification.
class AnswerVerifier {
  public:
    virtual ~AnswerVerifier() = default;
    virtual bool check(std::string_view message, std::string_view tag) const = 0;
    virtual const char* mode() const = 0;
};

std::unique_ptr<AnswerSigner> hmac_answer_signer(std::string_view shared_secret);
std::unique_ptr<AnswerVerifier> hmac_answer_verifier(std::string_view shared_secret);
// Raw 32-byte keys (RFC 8032); null if OpenSSL refuses the key.
std::unique_ptr<AnswerSigner> ed25519_answer_signer(std::string_view raw_private_key);
std::unique_ptr<AnswerVerifier> ed25519_answer_verifier(std::string_view raw_public_key);

// PEM files, checked at configuration time. The private key file must be a regular file owned
// by this user or root and not accessible by group or others; the public key file must not be
// writable by group or others (whoever can replace it can impersonate the primary). They return
// the raw 32-byte key, or empty with `error` set (naming the file and the reason).
std::string load_ed25519_private_key_file(const std::string& path, std::string* error);
std::string load_ed25519_public_key_file(const std::string& path, std::string* error);
// The public half of a raw private key (for tests and for the log line naming the key).
std::string ed25519_public_of(std::string_view raw_private_key);

}  // namespace docsync
