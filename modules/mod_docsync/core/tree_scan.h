// Builds the manifest of a directory tree. Symlinks are recorded as symlinks (readlinkat), never
// followed; sockets, FIFOs and devices are skipped; file contents are hashed only when the
// (size, mtime, inode) triple differs from the cached one, so rescanning an unchanged tree costs
// one fstatat per entry and no reads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>
#include <vector>

#include "block_index.h"
#include "manifest.h"

namespace docsync {

struct HashCacheKey {
    std::uint64_t size = 0;
    std::int64_t mtime_ns = 0;
    std::uint64_t inode = 0;
    bool operator==(const HashCacheKey& o) const {
        return size == o.size && mtime_ns == o.mtime_ns && inode == o.inode;
    }
};

class HashCache {
  public:
    const std::string* find(const std::string& path, const HashCacheKey& key) const;
    // `published`: this content is known to be the primary's (it was fetched from it, or its
    // hash matched the primary's manifest entry for the path). Only such files may serve as a
    // delta basis, because a delta request sends the basis's librsync signature to the
    // primary, and a signature reveals block checksums of content the primary never had.
    void put(const std::string& path, const HashCacheKey& key, std::string sha256,
             bool published = false);
    void mark_published(const std::string& path, const std::string& sha256);
    bool is_published(const std::string& path, const std::string& sha256) const;
    // Drops entries for paths not seen since the last call.
    void sweep();
    std::size_t size() const { return entries_.size(); }
    std::uint64_t bytes_hashed = 0;  // statistic: content read since construction

  private:
    struct Value {
        HashCacheKey key;
        std::string sha256;
        bool seen = false;
        bool published = false;
    };
    mutable std::unordered_map<std::string, Value> entries_;
};

struct ScanOptions {
    std::vector<std::string> excludes;  // globs, see glob_excludes()
    std::size_t max_entries = kMaxManifestEntries;
    // Symlinks whose target is not safe (path_policy.h) are left out and listed in `skipped`:
    // what an export does, so a primary never offers a link a secondary must refuse. The
    // secondary's scan of its own tree keeps them, so the sync can replace or delete them.
    bool skip_unsafe_symlinks = true;
    // Set on the primary: files of at least kMinIndexedFileBytes that are hashed get their block
    // digests taken in the same read (block_index.h) and passed here with their path.
    std::function<void(const std::string& path, BlockIndex index)> on_block_index;
};

struct ScanResult {
    Manifest manifest;
    std::vector<std::string> directories;       // relative paths, for inotify watches
    std::vector<std::string> stale_temp_files;  // our own leftovers from an interrupted run
    std::vector<std::string> skipped;           // special files, unreadable or invalid names
    std::vector<std::string> unstable;          // files that changed while being hashed
    std::string error;                          // non-empty: scan failed (root unreadable, too big)
    bool ok() const { return error.empty(); }
};

ScanResult scan_tree(int root_fd, HashCache& cache, const ScanOptions& options = {});

// The manifest scan_tree would give now, when `previous` is what it gave earlier (with the same
// cache and options) and only the directories in `dirs` ("" is the root) have changed since:
// each of them is listed again (its own mode and mtime, its direct entries); a subdirectory
// that is still a directory keeps its subtree from `previous` unless it is in `deep`, which is
// read whole (a directory created, moved in or replaced: its parent is rescanned too). A
// directory that cannot be opened any more is dropped with its subtree and its parent is
// rescanned. `directories` lists the directories read; `stale_temp_files` only those seen;
// the cache is not swept (entries of removed files stay until the next full scan).
ScanResult rescan_dirs(int root_fd, HashCache& cache, const Manifest& previous,
                       const std::set<std::string>& dirs, const std::set<std::string>& deep,
                       const ScanOptions& options = {});

// The entries of just `paths`, as scan_tree would record them, without reading any directory's
// subtree: each path's parent is opened beneath the root without following symlinks, and a
// path whose parent cannot be opened so is absent. The cache is not swept.
ScanResult scan_paths(int root_fd, HashCache& cache, const std::vector<std::string>& paths,
                      const ScanOptions& options = {});

}  // namespace docsync
