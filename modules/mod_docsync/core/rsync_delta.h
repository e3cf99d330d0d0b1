// librsync (signature → delta → patch) behind RAII and streaming callbacks.
//
// The delta engine is librsync's, not ours: it computes the rolling weak sums and strong block
// hashes, finds matches at any byte offset and encodes/decodes the delta format. This file only
// owns the jobs and signature sets, drives rs_job_iter with bounded buffers and chooses the block
// size. Streaming matters: a 64 MiB file is patched as it arrives and never held in memory.
#pragma once

#include <librsync.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

namespace docsync {

inline constexpr std::size_t kMinBlockBytes = 512;
inline constexpr std::size_t kMaxBlockBytes = 64 * 1024;
// Upper bound for a signature accepted from the network: a 1 TiB file at the largest block size
// and longest strong sum is far below this. Anything larger is refused before parsing.
inline constexpr std::size_t kMaxSignatureBytes = 64u << 20;

// Block length for a file of `size` bytes: about sqrt(size) (rsync's choice, balancing signature
// size against delta granularity), as a power of two within [kMinBlockBytes, kMaxBlockBytes].
std::size_t block_length_for(std::uint64_t size);

// Consumer of produced bytes; returns false to abort (e.g. output bound exceeded, peer gone).
using ByteSink = std::function<bool(const char* data, std::size_t len)>;

struct RsJobDeleter {
    void operator()(rs_job_t* job) const { rs_job_free(job); }
};
using RsJob = std::unique_ptr<rs_job_t, RsJobDeleter>;

struct RsSignatureDeleter {
    void operator()(rs_signature_t* sig) const { rs_free_sumset(sig); }
};
using RsSignature = std::unique_ptr<rs_signature_t, RsSignatureDeleter>;

// Feeds input to a job, passing output to `sink`. Call with eof=true (possibly with no data)
// to finish; returns RS_DONE when the job finished, RS_BLOCKED when it wants more input,
// anything else on error (RS_IO_ERROR when the sink refused).
class JobPump {
  public:
    JobPump(RsJob job, ByteSink sink);
    rs_result feed(const char* data, std::size_t len, bool eof);
    rs_job_t* job() const { return job_.get(); }

  private:
    RsJob job_;
    ByteSink sink_;
    bool done_ = false;
};

// Signature of the data read from `fd` (size known, for the block length) into `sink`.
rs_result signature_of_fd(int fd, std::uint64_t size, const ByteSink& sink);
std::string signature_of(std::string_view data);  // for tests and small buffers

// Parses and indexes a signature received from the network. Empty result and `error` set when
// it is malformed (bad magic, block or strong-sum length out of range) or too large.
RsSignature load_signature(std::string_view bytes, std::string* error);

// Streams the delta that turns the signature's basis into the data read from `fd`.
rs_result delta_from_fd(rs_signature_t* sig, int fd, const ByteSink& sink);
std::string delta_of(std::string_view signature, std::string_view new_data);  // tests

// Applies a streamed delta to a basis read with pread from `basis_fd` (-1: empty basis),
// sending the reconstructed data to `sink`. At most `max_output` bytes are produced: a hostile
// delta that would expand beyond the expected file size is cut off as an error.
class PatchStream {
  public:
    PatchStream(int basis_fd, std::uint64_t basis_size, std::uint64_t max_output, ByteSink sink);
    // Returns false on a corrupt delta, a sink refusal or the output bound.
    bool feed(const char* data, std::size_t len);
    bool finish();  // true if the delta was complete and well-formed
    std::uint64_t produced() const { return produced_; }
    const std::string& error() const { return error_; }

  private:
    static rs_result copy_cb(void* arg, rs_long_t pos, std::size_t* len, void** buf);
    int basis_fd_;
    std::uint64_t basis_size_;
    std::uint64_t max_output_;
    std::uint64_t produced_ = 0;
    ByteSink sink_;
    std::unique_ptr<JobPump> pump_;
    std::string error_;
    bool finished_ = false;
};

// Applies a whole delta in memory (tests and fuzzing). nullopt-like: returns false on error.
bool patch_of(std::string_view basis, std::string_view delta, std::string* out,
              std::uint64_t max_output);

}  // namespace docsync
