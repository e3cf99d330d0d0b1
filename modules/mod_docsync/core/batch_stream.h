// Framing of the batch file response ("files" request): many small files in one HTTP response,
// so an initial sync of 20,000 files is not 20,000 round trips.
//   F <size>\n<size bytes>   a file's content
//   E <reason>\n             the file could not be served (vanished, not regular, refused)
// one frame per requested path, in request order. The decoder is a byte-at-a-time state machine
// fed from the network; it never buffers content and refuses a frame larger than the size the
// manifest announced for that file, so a hostile primary cannot make the secondary write more.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace docsync {

inline constexpr std::size_t kMaxFrameHeaderBytes = 512;
inline constexpr std::size_t kMaxBatchPaths = 2000;
inline constexpr std::uint64_t kMaxBatchRequestBytes = 4u << 20;  // the list of paths

std::string frame_header(std::uint64_t size);
std::string error_frame(const std::string& reason);

class BatchSink {
  public:
    virtual ~BatchSink() = default;
    virtual bool begin(std::size_t index, std::uint64_t size) = 0;
    virtual bool data(const char* p, std::size_t n) = 0;
    virtual bool end() = 0;
    virtual void unavailable(std::size_t index, const std::string& reason) = 0;
};

class BatchDecoder {
  public:
    // expected_sizes[i]: the manifest size of the i-th requested file (upper bound).
    BatchDecoder(std::vector<std::uint64_t> expected_sizes, BatchSink& sink)
        : expected_(std::move(expected_sizes)), sink_(sink) {}
    bool feed(const char* p, std::size_t n);
    bool finished() const { return error_.empty() && index_ == expected_.size() && !in_body_; }
    const std::string& error() const { return error_; }

  private:
    bool header_done();
    bool end_file();
    std::vector<std::uint64_t> expected_;
    BatchSink& sink_;
    std::size_t index_ = 0;
    bool in_body_ = false;
    std::uint64_t remaining_ = 0;
    std::string header_;
    std::string error_;
};

}  // namespace docsync
