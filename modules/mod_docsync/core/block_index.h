// Fixed-size block digests of the files the primary exports, taken while a file is read for its
// manifest SHA-256 anyway (no second read).
//
// With the digests of the version a secondary holds and of the current one, the primary answers
// a change at once with a delta in librsync's format (so the secondary's patcher is the same):
// the secondary sends no signature (which would mean reading its whole copy first) and the
// primary runs no rolling search (which would read the new file again). Only changes that keep
// the block boundaries are found this way (an insertion shifts every later block); an answer
// that is mostly literal is not offered, and the secondary then sends its librsync signature as
// before. The digests are not cryptographic: every patched file is verified against the
// manifest's SHA-256 before it is renamed into place, and a copy that fails that check is
// fetched again by the signature path.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "rsync_delta.h"

namespace docsync {

inline constexpr std::size_t kIndexBlockBytes = 8 * 1024;
// Files smaller than this are sent whole in batches (sync_engine.h kMinDeltaBytes): not indexed.
inline constexpr std::uint64_t kMinIndexedFileBytes = 16 * 1024;
// Digests kept per export and httpd child, all versions together: 4 Mi digests (32 MiB) cover
// 32 GiB of content. Beyond it, new versions are not indexed (their deltas take the signature
// path).
inline constexpr std::size_t kMaxStoredBlocks = 4u << 20;

struct BlockIndex {
    std::string sha256;  // of the whole content the blocks describe
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;          // of the file when it was read
    std::vector<std::uint64_t> blocks;  // digest of each kIndexBlockBytes block, the last short
    std::uint64_t inode =
        0;  // of the file when it was read (a replacement may keep size and mtime)
};

// Digests of a stream cut into kIndexBlockBytes blocks.
class BlockHasher {
  public:
    void update(const char* data, std::size_t len);
    std::vector<std::uint64_t> finish();  // includes the last, partial block

  private:
    std::string partial_;
    std::vector<std::uint64_t> blocks_;
};

// One digest per block of `size` bytes.
bool consistent(const BlockIndex& index);

// How much of `current` a block delta from `basis` would have to send literally.
std::uint64_t literal_bytes(const BlockIndex& basis, const BlockIndex& current);

// Writes the librsync delta that turns the content `basis` describes into the content of `fd`
// (described by `current`): COPY for each run of blocks whose digests agree at the same offset,
// LITERAL with bytes read from `fd` otherwise. False (error set) when `fd` is shorter than
// `current` says or the sink refuses.
bool write_block_delta(const BlockIndex& basis, const BlockIndex& current, int fd,
                       const ByteSink& sink, std::string* error);

// Per path, the index of the current version and of the one before it (what a secondary that
// has not synced the latest change yet holds). Thread-safe: the watcher thread puts, request
// threads find.
class BlockIndexStore {
  public:
    explicit BlockIndexStore(std::size_t max_blocks = kMaxStoredBlocks) : max_blocks_(max_blocks) {}
    // `index` becomes the current version of `path`; the previous current one is kept as the
    // version before it (unless it has the same content).
    void put(const std::string& path, BlockIndex index);
    std::shared_ptr<const BlockIndex> current(const std::string& path) const;
    // The version of `path` with content `sha256`, current or previous.
    std::shared_ptr<const BlockIndex> find(const std::string& path,
                                           const std::string& sha256) const;
    // Drops every path for which `keep` is false (gone from the manifest).
    void retain(const std::function<bool(const std::string& path)>& keep);
    std::size_t stored_blocks() const;

  private:
    struct Versions {
        std::shared_ptr<const BlockIndex> current, previous;
    };
    static std::size_t blocks_of(const Versions& v);
    std::size_t max_blocks_;
    mutable std::mutex mutex_;
    std::unordered_map<std::string, Versions> paths_;
    std::size_t blocks_ = 0;
};

}  // namespace docsync
