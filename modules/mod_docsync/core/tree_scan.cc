#include "tree_scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "crypto.h"
#include "path_policy.h"
#include "safe_fs.h"

namespace docsync {

namespace {

constexpr std::size_t kHashChunkBytes = 256 * 1024;

std::int64_t mtime_of(const struct stat& st) {
    return static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

bool hash_fd(int fd, std::string& out, std::uint64_t& bytes, BlockHasher* blocks) {
    Sha256 sha;
    std::vector<char> buf(kHashChunkBytes);
    for (;;) {
        ssize_t n = ::read(fd, buf.data(), buf.size());
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return false;
        if (n == 0) break;
        sha.update(buf.data(), static_cast<std::size_t>(n));
        if (blocks) blocks->update(buf.data(), static_cast<std::size_t>(n));
        bytes += static_cast<std::uint64_t>(n);
    }
    out = sha.hex_digest();
    return true;
}

struct Scanner {
    HashCache& cache;
    const ScanOptions& options;
    ScanResult& result;

    bool excluded(const std::string& path) const {
        for (const auto& g : options.excludes)
            if (glob_excludes(g, path)) return true;
        return false;
    }

    void scan_dir(int dir_fd, const std::string& prefix, std::size_t depth) {
        if (!result.ok()) return;
        if (depth > kMaxPathDepth) {
            result.skipped.push_back(prefix);
            return;
        }
        std::vector<std::string> names;
        if (!list_dir(dir_fd, &names)) {
            result.skipped.push_back(prefix);
            return;
        }
        for (const auto& name : names) {
            std::string path = prefix.empty() ? name : prefix + "/" + name;
            if (std::string_view(name).substr(0, kTempPrefix.size()) == kTempPrefix) {
                result.stale_temp_files.push_back(path);
                continue;
            }
            // Another source's staging or state directory, not content (and not ours to warn
            // about as a skipped entry).
            if (is_sync_private_name(name)) continue;
            if (path_problem(path)) {
                result.skipped.push_back(path);
                continue;
            }
            if (excluded(path)) continue;
            if (result.manifest.size() >= options.max_entries) {
                result.error = "more than " + std::to_string(options.max_entries) + " entries";
                return;
            }
            struct stat st;
            if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // gone
            Entry e;
            e.mode = st.st_mode & kModeMask;
            e.mtime_ns = mtime_of(st);
            if (S_ISDIR(st.st_mode)) {
                e.type = EntryType::kDir;
                UniqueFd sub(::openat(dir_fd, name.c_str(),
                                      O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                if (!sub) {
                    result.skipped.push_back(path);
                    continue;
                }
                result.manifest.emplace(path, e);
                result.directories.push_back(path);
                scan_dir(sub.get(), path, depth + 1);
            } else if (S_ISLNK(st.st_mode)) {
                e.type = EntryType::kSymlink;
                e.mode = 0777;
                char buf[kMaxSymlinkTargetBytes + 1];
                ssize_t len = ::readlinkat(dir_fd, name.c_str(), buf, sizeof buf);
                if (len <= 0 || static_cast<std::size_t>(len) > kMaxSymlinkTargetBytes) {
                    result.skipped.push_back(path);
                    continue;
                }
                e.target.assign(buf, static_cast<std::size_t>(len));
                e.size = e.target.size();
                if (options.skip_unsafe_symlinks && !is_safe_symlink_target(path, e.target)) {
                    result.skipped.push_back(path);
                    continue;
                }
                result.manifest.emplace(path, e);
            } else if (S_ISREG(st.st_mode)) {
                e.type = EntryType::kFile;
                e.size = static_cast<std::uint64_t>(st.st_size);
                HashCacheKey key{e.size, e.mtime_ns, static_cast<std::uint64_t>(st.st_ino)};
                if (const std::string* h = cache.find(path, key)) {
                    e.sha256 = *h;
                } else {
                    UniqueFd fd(::openat(dir_fd, name.c_str(),
                                         O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
                    struct stat st2;
                    BlockHasher blocks;
                    const bool index = options.on_block_index && e.size >= kMinIndexedFileBytes;
                    // The entry describes what was hashed: re-stat through the open fd so a file
                    // replaced between fstatat and openat is recorded consistently.
                    if (!fd || ::fstat(fd.get(), &st2) != 0 || !S_ISREG(st2.st_mode) ||
                        !hash_fd(fd.get(), e.sha256, cache.bytes_hashed,
                                 index ? &blocks : nullptr)) {
                        result.skipped.push_back(path);
                        continue;
                    }
                    struct stat st3;
                    if (::fstat(fd.get(), &st3) != 0 || st3.st_size != st2.st_size ||
                        mtime_of(st3) != mtime_of(st2)) {
                        // Being written right now: the next event or rescan picks it up.
                        result.unstable.push_back(path);
                        continue;
                    }
                    e.size = static_cast<std::uint64_t>(st2.st_size);
                    e.mtime_ns = mtime_of(st2);
                    e.mode = st2.st_mode & kModeMask;
                    key = {e.size, e.mtime_ns, static_cast<std::uint64_t>(st2.st_ino)};
                    cache.put(path, key, e.sha256);
                    if (index) {
                        BlockIndex bi{e.sha256, e.size, e.mtime_ns, blocks.finish(), key.inode};
                        // Read as many bytes as stat said (else its hash is refused anyway).
                        if (bi.blocks.size() == (e.size + kIndexBlockBytes - 1) / kIndexBlockBytes)
                            options.on_block_index(path, std::move(bi));
                    }
                }
                result.manifest.emplace(path, e);
            } else {
                result.skipped.push_back(path);
            }
        }
    }
};

}  // namespace

const std::string* HashCache::find(const std::string& path, const HashCacheKey& key) const {
    auto it = entries_.find(path);
    if (it == entries_.end() || !(it->second.key == key)) return nullptr;
    it->second.seen = true;
    return &it->second.sha256;
}

void HashCache::put(const std::string& path, const HashCacheKey& key, std::string sha256,
                    bool published) {
    entries_[path] = Value{key, std::move(sha256), true, published};
}

void HashCache::mark_published(const std::string& path, const std::string& sha256) {
    auto it = entries_.find(path);
    if (it != entries_.end() && it->second.sha256 == sha256) it->second.published = true;
}

bool HashCache::is_published(const std::string& path, const std::string& sha256) const {
    auto it = entries_.find(path);
    return it != entries_.end() && it->second.published && it->second.sha256 == sha256;
}

void HashCache::sweep() {
    for (auto it = entries_.begin(); it != entries_.end();) {
        if (!it->second.seen) {
            it = entries_.erase(it);
        } else {
            it->second.seen = false;
            ++it;
        }
    }
}

ScanResult scan_tree(int root_fd, HashCache& cache, const ScanOptions& options) {
    ScanResult result;
    Scanner scanner{cache, options, result};
    scanner.scan_dir(root_fd, "", 0);
    if (result.ok()) cache.sweep();
    if (!result.ok()) result.manifest.clear();
    return result;
}

}  // namespace docsync
