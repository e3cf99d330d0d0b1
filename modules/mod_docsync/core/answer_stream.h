// The authenticated frame stream: how large answers (file batches, deltas, ranges) are sent so
// the secondary checks every byte it parses before parsing it, without buffering the answer
// and without a second hashing pass over file content.
//
//   frame := <kind> SP <auth-len> SP <raw-len> LF  <auth-len bytes>  <tag hex> LF  <raw-len bytes>
//   kind  := 'M' (more frames follow) | 'Z' (the last frame: nothing may follow its raw bytes)
//   tag_i := tag(frame_message(nonce, i, tag_{i-1}, kind, auth-len, raw-len, SHA-256(auth)))
//   tag_{-1} is the answer's own tag (answer_auth.h), which covers status, method, path, nonce.
//
// The chain binds each frame to its position, to every frame before it and to the request, so
// a reordered, dropped, replayed or foreign frame fails its tag, and a stream cut short lacks
// its 'Z' frame. The authenticated part is what gets parsed: batch headers ("F <size>
// <sha256>"), delta and range data. The raw part carries file content only, and only after a
// header that named that content's SHA-256: the secondary hashes content anyway as it writes
// it (and renames nothing whose hash differs), so the content is covered by the tag without a
// second pass over it — SHA-256 over the raw part on both sides would cost as much as the copy.
// Ed25519 signs per frame; batch frames group many small files (up to kFrameFiles or
// kFrameRawBytes) so an initial sync of 20,000 files needs about a hundred signatures.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "answer_auth.h"
#include "rsync_delta.h"

namespace docsync {

inline constexpr std::size_t kStreamFrameBytes = 256 * 1024;  // delta/range data per frame
inline constexpr std::chrono::milliseconds kStreamFrameMaxHold{5};
inline constexpr std::size_t kMaxFrameAuthBytes = 1u << 20;  // refused above this
inline constexpr std::size_t kFrameFiles = 256;              // batch files per frame
inline constexpr std::uint64_t kFrameRawBytes = 256 * 1024;  // batch content per frame (soft)

std::string frame_message(std::string_view nonce, std::uint64_t seq, std::string_view prev_tag,
                          char kind, std::uint64_t auth_len, std::uint64_t raw_len,
                          std::string_view auth_sha256_hex);

class FrameWriter {
  public:
    FrameWriter(const AnswerSigner& signer, std::string nonce, std::string answer_tag, ByteSink out)
        : signer_(signer),
          nonce_(std::move(nonce)),
          prev_(std::move(answer_tag)),
          out_(std::move(out)) {}
    // Sends one frame's header, authenticated part and tag; the caller then sends exactly
    // `raw_len` bytes through raw().
    bool frame(std::string_view auth, std::uint64_t raw_len, bool last);
    bool raw(const char* p, std::size_t n) { return out_(p, n); }

  private:
    const AnswerSigner& signer_;
    std::string nonce_;
    std::string prev_;
    ByteSink out_;
    std::uint64_t seq_ = 0;
};

// A byte stream (delta, range) cut into authenticated frames of kStreamFrameBytes. A frame also
// leaves early, when data arrives after the previous frame left more than `max_hold` ago: a
// producer that is slow between outputs (a delta of a large, barely changed file emits a copy
// command, computes for a while, emits the next) is not held back, so the secondary patches
// while the primary still computes; a fast producer still fills whole frames.
class FramedByteSink {
  public:
    explicit FramedByteSink(FrameWriter& writer,
                            std::chrono::milliseconds max_hold = kStreamFrameMaxHold)
        : writer_(writer), max_hold_(max_hold), last_(std::chrono::steady_clock::now()) {}
    ByteSink sink();
    bool finish();  // sends what is buffered as the last frame

  private:
    bool flush();
    FrameWriter& writer_;
    std::chrono::milliseconds max_hold_;
    std::chrono::steady_clock::time_point last_;
    std::string buffer_;
};

// What a frame stream delivers once a frame's tag checked out.
class FrameSink {
  public:
    virtual ~FrameSink() = default;
    virtual bool frame(std::string_view auth, std::uint64_t raw_len, bool last) = 0;
    virtual bool raw(const char* p, std::size_t n) = 0;
};

class FrameReader {
  public:
    FrameReader(const AnswerVerifier& verifier, std::string nonce, std::string answer_tag,
                FrameSink& sink)
        : verifier_(verifier),
          nonce_(std::move(nonce)),
          prev_(std::move(answer_tag)),
          sink_(sink) {}
    bool feed(const char* p, std::size_t n);
    bool finished() const { return error_.empty() && last_seen_ && raw_left_ == 0; }
    bool auth_failed() const { return auth_failed_; }
    const std::string& error() const { return error_; }

  private:
    enum class State { kHeader, kAuth, kTag, kRaw, kDone };
    bool fail(std::string e, bool auth = false);
    bool header_done();
    bool tag_done();
    const AnswerVerifier& verifier_;
    std::string nonce_;
    std::string prev_;
    FrameSink& sink_;
    State state_ = State::kHeader;
    std::string line_;
    std::string auth_;
    char kind_ = 0;
    std::uint64_t auth_len_ = 0;
    std::uint64_t raw_len_ = 0;
    std::uint64_t raw_left_ = 0;
    std::uint64_t seq_ = 0;
    bool last_seen_ = false;
    bool auth_failed_ = false;
    std::string error_;
};

// Reads a whole frame stream of data frames (delta, range) into `out` as each frame checks out.
class DataFrameSink : public FrameSink {
  public:
    explicit DataFrameSink(ByteSink out) : out_(std::move(out)) {}
    bool frame(std::string_view auth, std::uint64_t raw_len, bool) override {
        return raw_len == 0 && (auth.empty() || out_(auth.data(), auth.size()));
    }
    bool raw(const char*, std::size_t) override { return false; }

  private:
    ByteSink out_;
};

}  // namespace docsync
