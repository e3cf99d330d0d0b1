// Framing of the batch file response ("files" request): many small files in one HTTP response,
// so an initial sync of 20,000 files is not 20,000 round trips. The response is an
// authenticated frame stream (answer_stream.h); each frame's authenticated part holds one
// header per file, its raw part the content of the files announced with "F", in order:
//   F <size> <sha256>\n   a file's content follows in the raw part
//   E <reason>\n          the file could not be served (vanished, not regular, refused)
// one header per requested path, in request order, and the last frame ('Z') ends the batch.
// The decoder refuses a header whose size differs from the manifest's for the same hash, and
// skips (reports unavailable) a file whose hash is not the manifest's: it changed on the
// primary since, and writing it could only fail the hash check.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "answer_stream.h"

namespace docsync {

inline constexpr std::size_t kMaxBatchPaths = 2000;
inline constexpr std::uint64_t kMaxBatchRequestBytes = 4u << 20;  // the list of paths

std::string file_header(std::uint64_t size, const std::string& sha256);
std::string error_header(const std::string& reason);

class BatchSink {
  public:
    virtual ~BatchSink() = default;
    virtual bool begin(std::size_t index, std::uint64_t size) = 0;
    virtual bool data(const char* p, std::size_t n) = 0;
    virtual bool end() = 0;
    virtual void unavailable(std::size_t index, const std::string& reason) = 0;
};

struct ExpectedFile {
    std::uint64_t size = 0;
    std::string sha256;
};

class BatchDecoder : public FrameSink {
  public:
    BatchDecoder(std::vector<ExpectedFile> expected, BatchSink& sink)
        : expected_(std::move(expected)), sink_(sink) {}
    bool frame(std::string_view auth, std::uint64_t raw_len, bool last) override;
    bool raw(const char* p, std::size_t n) override;
    bool finished() const {
        return error_.empty() && last_ && index_ == expected_.size() && pending_.empty();
    }
    const std::string& error() const { return error_; }

  private:
    struct Pending {
        std::size_t index;
        std::uint64_t left;
        bool skip;
        bool begun = false;
    };
    bool fail(std::string e) {
        if (error_.empty()) error_ = std::move(e);
        return false;
    }
    bool header(std::string_view line);
    bool start_ready();
    std::vector<ExpectedFile> expected_;
    BatchSink& sink_;
    std::size_t index_ = 0;
    std::uint64_t frame_raw_ = 0;
    std::deque<Pending> pending_;
    bool last_ = false;
    std::string error_;
};

}  // namespace docsync
