// The primary's answers to the three content requests, independent of httpd: the handler passes
// a sink that writes to the client, the unit tests one that writes to a string. Every path is
// validated and opened beneath the export root without following symlinks, so a hostile
// secondary cannot read outside the export (rsync's CVE-2024-12086) or through a link in it.
#pragma once

#include <sys/stat.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "answer_stream.h"
#include "block_index.h"
#include "rsync_delta.h"
#include "safe_fs.h"

namespace docsync {

std::string serialise_batch_request(const std::vector<std::string>& paths);
// Newline-separated percent-encoded paths; bounded count and size; every path valid.
bool parse_batch_request(std::string_view body, std::vector<std::string>* paths,
                         std::string* error);

// The SHA-256 the primary already knows for a file it opened (its manifest snapshot, when size
// and mtime still match), or empty: the file is then hashed before it is sent.
using KnownHash = std::function<std::string(const std::string& path, const struct stat& st)>;

// Streams the batch as authenticated frames (batch_stream.h): one header per path, content in
// the frames' raw parts. Returns false only if the output failed.
bool serve_batch(int root_fd, const std::vector<std::string>& paths, const KnownHash& known,
                 FrameWriter& out);

enum class ServeStatus { kOk, kBadRequest, kNotFound, kFailed, kUnknownBasis };

// The librsync delta from the client's signature to the current file. The handler sends these
// two through a FramedByteSink.
ServeStatus serve_delta(int root_fd, const std::string& path, std::string_view signature,
                        const ByteSink& sink, std::string* error);

// What a delta from the block indexes needs (block_index.h): the current file, opened, and
// the indexes of the secondary's version and of the file as it is now.
struct BlockDeltaSource {
    UniqueFd fd;
    std::shared_ptr<const BlockIndex> basis, current;
};

// Decides, before the answer starts, whether `path` can be answered from the block indexes
// for a secondary holding the content `basis_sha256`. unknown_basis when not: no index of that
// version, none of the file as it is now (changed since the last scan), or more than half of
// it would be literal (a shifted change the signature path finds better). The secondary then
// sends its librsync signature.
ServeStatus prepare_block_delta(int root_fd, const BlockIndexStore& store, const std::string& path,
                                const std::string& basis_sha256, BlockDeltaSource* out,
                                std::string* error);

// Bytes [offset, offset+length) of a file (length 0: to the end).
ServeStatus serve_range(int root_fd, const std::string& path, std::uint64_t offset,
                        std::uint64_t length, const ByteSink& sink, std::string* error);

}  // namespace docsync
