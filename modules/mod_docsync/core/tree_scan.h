// Builds the manifest of a directory tree. Symlinks are recorded as symlinks (readlinkat), never
// followed; sockets, FIFOs and devices are skipped; file contents are hashed only when the
// (size, mtime, inode) triple differs from the cached one, so rescanning an unchanged tree costs
// one fstatat per entry and no reads.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

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
    void put(const std::string& path, const HashCacheKey& key, std::string sha256);
    // Drops entries for paths not seen since the last call.
    void sweep();
    std::size_t size() const { return entries_.size(); }
    std::uint64_t bytes_hashed = 0;  // statistic: content read since construction

  private:
    struct Value {
        HashCacheKey key;
        std::string sha256;
        bool seen = false;
    };
    mutable std::unordered_map<std::string, Value> entries_;
};

struct ScanOptions {
    std::vector<std::string> excludes;  // globs, see glob_excludes()
    std::size_t max_entries = kMaxManifestEntries;
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

}  // namespace docsync
