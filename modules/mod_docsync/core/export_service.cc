#include "export_service.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "batch_stream.h"
#include "crypto.h"
#include "path_policy.h"
#include "safe_fs.h"

namespace docsync {

namespace {
constexpr std::size_t kServeChunkBytes = 256 * 1024;
}

std::string serialise_batch_request(const std::vector<std::string>& paths) {
    std::string out;
    for (const auto& p : paths) out += percent_encode(p) + "\n";
    return out;
}

bool parse_batch_request(std::string_view body, std::vector<std::string>* paths,
                         std::string* error) {
    paths->clear();
    if (body.size() > kMaxBatchRequestBytes) {
        *error = "batch request too large";
        return false;
    }
    std::size_t start = 0;
    while (start < body.size()) {
        std::size_t end = body.find('\n', start);
        if (end == std::string_view::npos) {
            *error = "batch request lacks a final newline";
            return false;
        }
        auto p = percent_decode(body.substr(start, end - start));
        if (!p || path_problem(*p)) {
            *error = "invalid path in batch request";
            return false;
        }
        paths->push_back(std::move(*p));
        if (paths->size() > kMaxBatchPaths) {
            *error = "too many paths in batch request";
            return false;
        }
        start = end + 1;
    }
    return true;
}

namespace {

// Only when the primary's snapshot does not know this content (a file changed since the last
// scan): one read to hash it, so the header can name the content the secondary must receive.
std::string hash_fd(int fd, std::uint64_t size, std::vector<char>& buf) {
    Sha256 h;
    for (std::uint64_t pos = 0; pos < size;) {
        ssize_t n = ::pread(fd, buf.data(), std::min<std::uint64_t>(buf.size(), size - pos),
                            static_cast<off_t>(pos));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        h.update(buf.data(), static_cast<std::size_t>(n));
        pos += static_cast<std::uint64_t>(n);
    }
    return h.hex_digest();
}

}  // namespace

bool serve_batch(int root_fd, const std::vector<std::string>& paths, const KnownHash& known,
                 FrameWriter& out) {
    std::vector<char> buf(kServeChunkBytes);
    struct OpenFile {
        UniqueFd fd;
        std::uint64_t size;
    };
    std::size_t next = 0;
    do {
        // One frame: the headers of up to kFrameFiles files (about kFrameRawBytes of content),
        // then their content. The files stay open between header and content.
        std::string headers;
        std::vector<OpenFile> files;
        std::uint64_t raw = 0;
        for (std::size_t in_frame = 0;
             next < paths.size() && in_frame < kFrameFiles && raw < kFrameRawBytes; ++in_frame) {
            const std::string& path = paths[next++];
            struct stat st;
            UniqueFd fd = open_file_beneath(root_fd, path, &st);
            if (!fd) {
                headers += error_header("unavailable: " + errno_text(errno));
                continue;
            }
            std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
            std::string sha = known ? known(path, st) : std::string();
            if (sha.empty()) sha = hash_fd(fd.get(), size, buf);
            headers += file_header(size, sha);
            raw += size;
            files.push_back({std::move(fd), size});
        }
        if (!out.frame(headers, raw, next == paths.size())) return false;
        // Exactly the announced bytes (zero-padded if a file shrank meanwhile): the stream stays
        // in step, and the secondary's hash check refuses the inconsistent copy.
        for (const OpenFile& f : files) {
            for (std::uint64_t sent = 0; sent < f.size;) {
                std::size_t want =
                    static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), f.size - sent));
                ssize_t n = ::pread(f.fd.get(), buf.data(), want, static_cast<off_t>(sent));
                if (n < 0 && errno == EINTR) continue;
                if (n <= 0) {
                    std::fill(buf.begin(), buf.begin() + want, '\0');
                    n = static_cast<ssize_t>(want);
                }
                if (!out.raw(buf.data(), static_cast<std::size_t>(n))) return false;
                sent += static_cast<std::uint64_t>(n);
            }
        }
    } while (next < paths.size());
    return true;
}

ServeStatus serve_delta(int root_fd, const std::string& path, std::string_view signature,
                        const ByteSink& sink, std::string* error) {
    if (path_problem(path)) {
        *error = "invalid path";
        return ServeStatus::kBadRequest;
    }
    RsSignature sig = load_signature(signature, error);
    if (!sig) return ServeStatus::kBadRequest;
    UniqueFd fd = open_file_beneath(root_fd, path);
    if (!fd) {
        *error = path + ": " + errno_text(errno);
        return ServeStatus::kNotFound;
    }
    rs_result r = delta_from_fd(sig.get(), fd.get(), sink);
    if (r != RS_DONE) {
        *error = std::string("delta failed: ") + rs_strerror(r);
        return ServeStatus::kFailed;
    }
    return ServeStatus::kOk;
}

ServeStatus prepare_block_delta(int root_fd, const BlockIndexStore& store, const std::string& path,
                                const std::string& basis_sha256, BlockDeltaSource* out,
                                std::string* error) {
    if (path_problem(path) || !is_lower_hex(basis_sha256) ||
        basis_sha256.size() != kSha256HexChars) {
        *error = "invalid path or basis";
        return ServeStatus::kBadRequest;
    }
    struct stat st;
    out->fd = open_file_beneath(root_fd, path, &st);
    if (!out->fd) {
        *error = path + ": " + errno_text(errno);
        return ServeStatus::kNotFound;
    }
    out->basis = store.find(path, basis_sha256);
    out->current = store.current(path);
    const std::int64_t mtime =
        static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
    if (!out->basis || !out->current || out->current == out->basis ||
        out->current->size != static_cast<std::uint64_t>(st.st_size) ||
        out->current->mtime_ns != mtime ||
        out->current->inode != static_cast<std::uint64_t>(st.st_ino) ||
        literal_bytes(*out->basis, *out->current) > out->current->size / 2) {
        *error = path + ": no block index for this basis and the current content";
        return ServeStatus::kUnknownBasis;
    }
    return ServeStatus::kOk;
}

ServeStatus serve_range(int root_fd, const std::string& path, std::uint64_t offset,
                        std::uint64_t length, const ByteSink& sink, std::string* error) {
    if (path_problem(path)) {
        *error = "invalid path";
        return ServeStatus::kBadRequest;
    }
    struct stat st;
    UniqueFd fd = open_file_beneath(root_fd, path, &st);
    if (!fd) {
        *error = path + ": " + errno_text(errno);
        return ServeStatus::kNotFound;
    }
    std::uint64_t size = static_cast<std::uint64_t>(st.st_size);
    if (offset > size) {
        *error = "offset beyond end of file";
        return ServeStatus::kBadRequest;
    }
    std::uint64_t end = length == 0 || length > size - offset ? size : offset + length;
    std::vector<char> buf(kServeChunkBytes);
    for (std::uint64_t pos = offset; pos < end;) {
        std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), end - pos));
        ssize_t n = ::pread(fd.get(), buf.data(), want, static_cast<off_t>(pos));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        if (!sink(buf.data(), static_cast<std::size_t>(n))) return ServeStatus::kFailed;
        pos += static_cast<std::uint64_t>(n);
    }
    return ServeStatus::kOk;
}

}  // namespace docsync
