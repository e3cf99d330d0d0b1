#include "rsync_delta.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <vector>

namespace docsync {

namespace {

constexpr std::size_t kOutBufferBytes = 64 * 1024;
constexpr std::size_t kReadChunkBytes = 256 * 1024;
// rs_job_iter makes progress on every call unless it is starved; this bounds the calls that make
// none, so a job that stops consuming can never spin forever.
constexpr int kMaxIdleIterations = 4;

bool read_fd(int fd, const std::function<bool(const char*, std::size_t)>& each);

// Streams everything readable from `fd` through the job, then finishes it.
rs_result pump_fd(JobPump& pump, int fd) {
    rs_result last = RS_BLOCKED;
    bool read_ok = read_fd(fd, [&](const char* p, std::size_t n) {
        last = pump.feed(p, n, false);
        return last == RS_BLOCKED;
    });
    if (!read_ok) return last == RS_BLOCKED ? RS_IO_ERROR : last;
    return pump.feed(nullptr, 0, true);
}

bool read_fd(int fd, const std::function<bool(const char*, std::size_t)>& each) {
    std::vector<char> buf(kReadChunkBytes);
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) return true;
        if (!each(buf.data(), static_cast<std::size_t>(n))) return false;
    }
}

}  // namespace

std::size_t block_length_for(std::uint64_t size) {
    std::size_t target = static_cast<std::size_t>(std::sqrt(static_cast<double>(size)));
    std::size_t block = kMinBlockBytes;
    while (block < target && block < kMaxBlockBytes) block <<= 1;
    return block;
}

JobPump::JobPump(RsJob job, ByteSink sink) : job_(std::move(job)), sink_(std::move(sink)) {
    // librsync reports errors on stderr by default; every failure here is surfaced through our
    // own error strings (with the peer and path), so its messages would only be noise. Errors
    // from hostile input are expected, not exceptional.
    static const bool quiet = (rs_trace_set_level(RS_LOG_CRIT), true);
    (void)quiet;
}

rs_result JobPump::feed(const char* data, std::size_t len, bool eof) {
    if (done_) return len ? RS_SYNTAX_ERROR : RS_DONE;
    char out[kOutBufferBytes];
    rs_buffers_t buf;
    buf.next_in = const_cast<char*>(data);
    buf.avail_in = len;
    buf.eof_in = eof ? 1 : 0;
    int idle = 0;
    for (;;) {
        buf.next_out = out;
        buf.avail_out = sizeof out;
        std::size_t before_in = buf.avail_in;
        rs_result r = rs_job_iter(job_.get(), &buf);
        std::size_t produced = sizeof out - buf.avail_out;
        if (produced && !sink_(out, produced)) return RS_IO_ERROR;
        if (r == RS_DONE) {
            done_ = true;
            return buf.avail_in ? RS_SYNTAX_ERROR : RS_DONE;  // trailing garbage after the end
        }
        if (r != RS_BLOCKED) return r;
        bool progress = produced || buf.avail_in != before_in;
        if (!progress) {
            if (buf.avail_in == 0 && !eof) return RS_BLOCKED;  // wants more input
            if (++idle > kMaxIdleIterations) return eof ? RS_INPUT_ENDED : RS_BLOCKED;
        } else {
            idle = 0;
        }
    }
}

rs_result signature_of_fd(int fd, std::uint64_t size, const ByteSink& sink) {
    rs_magic_number magic = RS_RK_BLAKE2_SIG_MAGIC;
    std::size_t block = block_length_for(size);
    // Minimum strong-sum length that is safe against accidental collisions: every patched file
    // is verified against the manifest's SHA-256 anyway, so a collision (even a crafted one)
    // can cost a retransfer but never a wrong file. This keeps the signature of a 64 MiB file
    // near 100 KB.
    std::size_t strong = static_cast<std::size_t>(-1);
    rs_result r = rs_sig_args(static_cast<rs_long_t>(size), &magic, &block, &strong);
    if (r != RS_DONE) return r;
    JobPump pump(RsJob(rs_sig_begin(block, strong, magic)), sink);
    return pump_fd(pump, fd);
}

std::string signature_of(std::string_view data) {
    rs_magic_number magic = RS_RK_BLAKE2_SIG_MAGIC;
    std::size_t block = block_length_for(data.size());
    std::size_t strong = static_cast<std::size_t>(-1);
    rs_sig_args(static_cast<rs_long_t>(data.size()), &magic, &block, &strong);
    std::string out;
    JobPump pump(RsJob(rs_sig_begin(block, strong, magic)), [&](const char* p, std::size_t n) {
        out.append(p, n);
        return true;
    });
    if (pump.feed(data.data(), data.size(), true) != RS_DONE) return {};
    return out;
}

RsSignature load_signature(std::string_view bytes, std::string* error) {
    auto fail = [&](const char* why) {
        if (error) *error = why;
        return RsSignature();
    };
    if (bytes.size() > kMaxSignatureBytes) return fail("signature too large");
    // Header: magic, block length, strong-sum length (big-endian u32). librsync validates them,
    // but we refuse silly block lengths first so a tiny signature cannot describe a huge table.
    if (bytes.size() < 12) return fail("signature truncated");
    auto u32 = [&](std::size_t off) {
        const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + off);
        return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) |
               (std::uint32_t(p[2]) << 8) | std::uint32_t(p[3]);
    };
    std::uint32_t magic = u32(0), block = u32(4), strong = u32(8);
    if (magic != RS_RK_BLAKE2_SIG_MAGIC && magic != RS_BLAKE2_SIG_MAGIC)
        return fail("signature magic not accepted (MD4 signatures are refused)");
    if (block < 1 || block > kMaxBlockBytes) return fail("signature block length out of range");
    if (strong < 1 || strong > RS_MAX_STRONG_SUM_LENGTH)
        return fail("signature strong-sum length out of range");
    if ((bytes.size() - 12) % (4 + strong) != 0) return fail("signature has a partial block");
    rs_signature_t* raw = nullptr;
    RsJob job(rs_loadsig_begin(&raw));
    JobPump pump(std::move(job), [](const char*, std::size_t) { return true; });
    rs_result r = pump.feed(bytes.data(), bytes.size(), true);
    RsSignature sig(raw);
    if (r != RS_DONE || !sig) return fail("signature rejected by librsync");
    if (rs_build_hash_table(sig.get()) != RS_DONE) return fail("signature cannot be indexed");
    return sig;
}

rs_result delta_from_fd(rs_signature_t* sig, int fd, const ByteSink& sink) {
    JobPump pump(RsJob(rs_delta_begin(sig)), sink);
    return pump_fd(pump, fd);
}

std::string delta_of(std::string_view signature, std::string_view new_data) {
    RsSignature sig = load_signature(signature, nullptr);
    if (!sig) return {};
    std::string out;
    JobPump pump(RsJob(rs_delta_begin(sig.get())), [&](const char* p, std::size_t n) {
        out.append(p, n);
        return true;
    });
    if (pump.feed(new_data.data(), new_data.size(), true) != RS_DONE) return {};
    return out;
}

PatchStream::PatchStream(int basis_fd, std::uint64_t basis_size, std::uint64_t max_output,
                         ByteSink sink)
    : basis_fd_(basis_fd),
      basis_size_(basis_size),
      max_output_(max_output),
      sink_(std::move(sink)) {
    pump_ = std::make_unique<JobPump>(RsJob(rs_patch_begin(&PatchStream::copy_cb, this)),
                                      [this](const char* p, std::size_t n) {
                                          if (produced_ + n > max_output_) {
                                              error_ = "delta expands beyond the expected size";
                                              return false;
                                          }
                                          produced_ += n;
                                          if (!sink_(p, n)) {
                                              if (error_.empty()) error_ = "output refused";
                                              return false;
                                          }
                                          return true;
                                      });
}

rs_result PatchStream::copy_cb(void* arg, rs_long_t pos, std::size_t* len, void** buf) {
    auto* self = static_cast<PatchStream*>(arg);
    // A COPY command from the network may name any range; only the basis is readable.
    if (self->basis_fd_ < 0 || pos < 0 || static_cast<std::uint64_t>(pos) >= self->basis_size_ ||
        *len > self->basis_size_ - static_cast<std::uint64_t>(pos)) {
        self->error_ = "delta copies outside the basis file";
        return RS_CORRUPT;
    }
    std::size_t want = *len;
    std::size_t got = 0;
    char* out = static_cast<char*>(*buf);
    while (got < want) {
        ssize_t n = ::pread(self->basis_fd_, out + got, want - got, pos + static_cast<off_t>(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            self->error_ = "basis file shorter than expected";
            return RS_IO_ERROR;
        }
        got += static_cast<std::size_t>(n);
    }
    *len = got;
    return RS_DONE;
}

bool PatchStream::feed(const char* data, std::size_t len) {
    if (finished_) {
        error_ = "data after the end of the delta";
        return false;
    }
    rs_result r = pump_->feed(data, len, false);
    if (r == RS_DONE) {
        finished_ = true;
        return true;
    }
    if (r == RS_BLOCKED) return true;
    if (error_.empty()) error_ = std::string("corrupt delta: ") + rs_strerror(r);
    return false;
}

bool PatchStream::finish() {
    if (finished_) return error_.empty();
    rs_result r = pump_->feed(nullptr, 0, true);
    finished_ = true;
    if (r == RS_DONE) return true;
    if (error_.empty()) error_ = std::string("incomplete delta: ") + rs_strerror(r);
    return false;
}

bool patch_of(std::string_view basis, std::string_view delta, std::string* out,
              std::uint64_t max_output) {
    // An anonymous in-memory file as basis, so the same pread path as production is exercised.
    int fd = -1;
    if (!basis.empty()) {
        fd = ::memfd_create("docsync-basis", MFD_CLOEXEC);
        if (fd < 0) return false;
        std::size_t off = 0;
        while (off < basis.size()) {
            ssize_t n = ::write(fd, basis.data() + off, basis.size() - off);
            if (n <= 0) {
                ::close(fd);
                return false;
            }
            off += static_cast<std::size_t>(n);
        }
    }
    out->clear();
    bool ok;
    {
        PatchStream patch(fd, basis.size(), max_output, [&](const char* p, std::size_t n) {
            out->append(p, n);
            return true;
        });
        ok = patch.feed(delta.data(), delta.size()) && patch.finish();
    }
    if (fd >= 0) ::close(fd);
    return ok;
}

}  // namespace docsync
