#include "tree_scan.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

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
            scan_entry(dir_fd, prefix, name, depth, nullptr);
            if (!result.ok()) return;
        }
    }

    // One entry `name` of the directory `dir_fd` (whose path is `prefix`). A directory is
    // scanned recursively unless `keep_subtree` says its subtree is already in the manifest.
    void scan_entry(int dir_fd, const std::string& prefix, const std::string& name,
                    std::size_t depth,
                    const std::function<bool(const std::string&)>* keep_subtree) {
        std::string path = prefix.empty() ? name : prefix + "/" + name;
        if (!admitted(name, path)) return;
        struct stat st;
        if (::fstatat(dir_fd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;  // gone
        Entry e;
        e.mode = st.st_mode & kModeMask;
        e.mtime_ns = mtime_of(st);
        if (S_ISDIR(st.st_mode))
            add_dir(dir_fd, name, path, depth, keep_subtree && (*keep_subtree)(path), e);
        else if (S_ISLNK(st.st_mode))
            add_symlink(dir_fd, name, path, e);
        else if (S_ISREG(st.st_mode))
            add_file(dir_fd, name, path, st, e);
        else
            result.skipped.push_back(path);
    }

    // Whether the entry is looked at, from its name alone; one that is not is recorded where
    // its reason belongs, or nowhere when it is not content.
    bool admitted(const std::string& name, const std::string& path) {
        if (std::string_view(name).substr(0, kTempPrefix.size()) == kTempPrefix) {
            result.stale_temp_files.push_back(path);
            return false;
        }
        // Another source's staging or state directory, not content (and not ours to warn
        // about as a skipped entry).
        if (is_sync_private_name(name)) return false;
        if (path_problem(path)) {
            result.skipped.push_back(path);
            return false;
        }
        if (excluded(path)) return false;
        if (result.manifest.size() >= options.max_entries) {
            result.error = "more than " + std::to_string(options.max_entries) + " entries";
            return false;
        }
        return true;
    }

    // `keep`: the directory's subtree is already in the manifest and is not read.
    void add_dir(int dir_fd, const std::string& name, const std::string& path, std::size_t depth,
                 bool keep, Entry e) {
        e.type = EntryType::kDir;
        UniqueFd sub;
        if (!keep) {
            sub.reset(
                ::openat(dir_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub) {
                result.skipped.push_back(path);
                return;
            }
        }
        result.manifest.emplace(path, e);
        result.directories.push_back(path);
        if (!keep) scan_dir(sub.get(), path, depth + 1);
    }

    void add_symlink(int dir_fd, const std::string& name, const std::string& path, Entry e) {
        e.type = EntryType::kSymlink;
        e.mode = 0777;
        char buf[kMaxSymlinkTargetBytes + 1];
        ssize_t len = ::readlinkat(dir_fd, name.c_str(), buf, sizeof buf);
        if (len <= 0 || static_cast<std::size_t>(len) > kMaxSymlinkTargetBytes) {
            result.skipped.push_back(path);
            return;
        }
        e.target.assign(buf, static_cast<std::size_t>(len));
        e.size = e.target.size();
        if (options.skip_unsafe_symlinks && !is_safe_symlink_target(path, e.target)) {
            result.skipped.push_back(path);
            return;
        }
        result.manifest.emplace(path, e);
    }

    // `st`: what fstatat said; a file it describes as the cache does is not read again.
    void add_file(int dir_fd, const std::string& name, const std::string& path,
                  const struct stat& st, Entry e) {
        e.type = EntryType::kFile;
        e.size = static_cast<std::uint64_t>(st.st_size);
        HashCacheKey key{e.size, e.mtime_ns, static_cast<std::uint64_t>(st.st_ino)};
        if (const std::string* h = cache.find(path, key))
            e.sha256 = *h;
        else if (!hash_file(dir_fd, name, path, e))
            return;
        result.manifest.emplace(path, e);
    }

    // Reads the file, fills in `e`'s hash and caches it; false (the path recorded as skipped
    // or unstable) when it cannot be read or changed while it was.
    bool hash_file(int dir_fd, const std::string& name, const std::string& path, Entry& e) {
        UniqueFd fd(::openat(dir_fd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
        struct stat st2;
        BlockHasher blocks;
        const bool index = options.on_block_index && e.size >= kMinIndexedFileBytes;
        // The entry describes what was hashed: re-stat through the open fd so a file
        // replaced between fstatat and openat is recorded consistently.
        if (!fd || ::fstat(fd.get(), &st2) != 0 || !S_ISREG(st2.st_mode) ||
            !hash_fd(fd.get(), e.sha256, cache.bytes_hashed, index ? &blocks : nullptr)) {
            result.skipped.push_back(path);
            return false;
        }
        struct stat st3;
        if (::fstat(fd.get(), &st3) != 0 || st3.st_size != st2.st_size ||
            mtime_of(st3) != mtime_of(st2)) {
            // Being written right now: the next event or rescan picks it up.
            result.unstable.push_back(path);
            return false;
        }
        e.size = static_cast<std::uint64_t>(st2.st_size);
        e.mtime_ns = mtime_of(st2);
        e.mode = st2.st_mode & kModeMask;
        const HashCacheKey key{e.size, e.mtime_ns, static_cast<std::uint64_t>(st2.st_ino)};
        cache.put(path, key, e.sha256);
        if (index) offer_block_index(path, e, key.inode, blocks);
        return true;
    }

    void offer_block_index(const std::string& path, const Entry& e, std::uint64_t inode,
                           BlockHasher& blocks) {
        BlockIndex bi{e.sha256, e.size, e.mtime_ns, blocks.finish(), inode};
        // Read as many bytes as stat said (else its hash is refused anyway).
        if (bi.blocks.size() == (e.size + kIndexBlockBytes - 1) / kIndexBlockBytes)
            options.on_block_index(path, std::move(bi));
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

namespace {

// [first, last) of the entries strictly below `dir` ("" is the root: every entry).
std::pair<Manifest::iterator, Manifest::iterator> subtree(Manifest& m, const std::string& dir) {
    if (dir.empty()) return {m.begin(), m.end()};
    // '0' follows '/' in byte order: every "dir/..." lies in ["dir/", "dir0").
    return {m.lower_bound(dir + "/"), m.lower_bound(dir + "0")};
}

void erase_subtree(Manifest& m, const std::string& dir) {
    auto [first, last] = subtree(m, dir);
    m.erase(first, last);
}

bool is_direct_child(const std::string& path, const std::string& dir) {
    const std::size_t from = dir.empty() ? 0 : dir.size() + 1;
    return path.find('/', from) == std::string::npos;
}

// Erases the direct children of `dir` from `m`, keeping the entries below them, and returns
// those that were directories.
std::vector<std::string> erase_direct_children(Manifest& m, const std::string& dir) {
    std::vector<std::string> old_dirs;
    auto [first, last] = subtree(m, dir);
    const std::string end_key = last == m.end() ? std::string() : last->first;
    for (auto it = first; it != m.end() && (end_key.empty() || it->first < end_key);) {
        if (is_direct_child(it->first, dir)) {
            if (it->second.type == EntryType::kDir) old_dirs.push_back(it->first);
            it = m.erase(it);
            continue;
        }
        // Inside a child directory's subtree, which lies in ["child/", "child0"): jump
        // past it rather than walking it (the root's children hold the whole tree).
        const std::size_t from = dir.empty() ? 0 : dir.size() + 1;
        const std::string child = it->first.substr(0, it->first.find('/', from));
        it = m.lower_bound(child + "0");
    }
    return old_dirs;
}

// The work of one rescan_dirs call: the directories still to list again and those listed.
class DirRescan {
  public:
    DirRescan(int root_fd, HashCache& cache, const Manifest& previous,
              const std::set<std::string>& deep, const ScanOptions& options, ScanResult& result,
              std::set<std::string> todo)
        : root_fd_(root_fd),
          previous_(previous),
          deep_(deep),
          result_(result),
          m_(result.manifest),
          scanner_{cache, options, result},
          todo_(std::move(todo)) {}

    void run() {
        while (!todo_.empty() && result_.ok()) {
            const std::string dir = *todo_.begin();
            todo_.erase(todo_.begin());
            if (done_.insert(dir).second) rescan(dir);
        }
    }

  private:
    void rescan(const std::string& dir) {
        // Outside the manifest (excluded, skipped, below a symlink) and not the root: what its
        // parent's listing decides (the parent is dirty too when it was created or removed).
        if (!dir.empty()) {
            auto own = m_.find(dir);
            if (own == m_.end() || own->second.type != EntryType::kDir) {
                if (previous_.count(dir) || deep_.count(dir)) todo_.insert(parent_of(dir));
                return;
            }
        }
        UniqueFd fd = open_and_restat(dir);
        if (!fd) return;
        std::vector<std::string> names;
        std::size_t depth = dir.empty() ? 0 : 1 + std::count(dir.begin(), dir.end(), '/');
        if (depth > kMaxPathDepth || !list_dir(fd.get(), &names)) {
            result_.skipped.push_back(dir);
            return;
        }
        relist_children(fd.get(), dir, depth, names);
    }

    // `dir` opened, its own entry's mode and mtime brought up to date; invalid when it is gone
    // or no longer a directory: then it is dropped and its parent's listing says what is there
    // now (for the root, the scan fails).
    UniqueFd open_and_restat(const std::string& dir) {
        UniqueFd fd = dir.empty() ? UniqueFd(::dup(root_fd_)) : open_dir_beneath(root_fd_, dir);
        struct stat st;
        if (!fd || ::fstat(fd.get(), &st) != 0) {
            erase_subtree(m_, dir);
            if (dir.empty()) {
                result_.error = "cannot open the root: " + errno_text(errno);
                return UniqueFd();
            }
            m_.erase(dir);
            todo_.insert(parent_of(dir));
            return UniqueFd();
        }
        if (!dir.empty()) {
            Entry& own = m_[dir];
            own.mode = st.st_mode & kModeMask;
            own.mtime_ns = mtime_of(st);
        }
        return fd;
    }

    // The direct children are listed again; a child directory that still is one keeps
    // its subtree (its own events make it dirty), one that is not any more loses it.
    void relist_children(int dir_fd, const std::string& dir, std::size_t depth,
                         const std::vector<std::string>& names) {
        const std::vector<std::string> old_dirs = erase_direct_children(m_, dir);
        std::set<std::string> had_dirs(old_dirs.begin(), old_dirs.end());
        const std::function<bool(const std::string&)> keep = [&](const std::string& path) {
            return had_dirs.count(path) > 0 && !deep_.count(path);
        };
        for (const auto& name : names) {
            scanner_.scan_entry(dir_fd, dir, name, depth, &keep);
            if (!result_.ok()) break;
        }
        for (const auto& old : old_dirs) {
            auto now = m_.find(old);
            if (now == m_.end() || now->second.type != EntryType::kDir) erase_subtree(m_, old);
        }
    }

    int root_fd_;
    const Manifest& previous_;
    const std::set<std::string>& deep_;
    ScanResult& result_;
    Manifest& m_;
    Scanner scanner_;
    std::set<std::string> todo_;
    std::set<std::string> done_;
};

}  // namespace

ScanResult rescan_dirs(int root_fd, HashCache& cache, const Manifest& previous,
                       const std::set<std::string>& dirs, const std::set<std::string>& deep,
                       const ScanOptions& options) {
    ScanResult result;
    result.manifest = previous;
    // A directory listed in `deep` is read whole: its old subtree goes first.
    for (const auto& d : deep) erase_subtree(result.manifest, d);
    std::set<std::string> todo(dirs.begin(), dirs.end());
    for (const auto& d : deep)
        if (!d.empty()) todo.insert(parent_of(d));  // its own entry is in its parent
    DirRescan(root_fd, cache, previous, deep, options, result, std::move(todo)).run();
    if (!result.ok()) result.manifest.clear();
    return result;
}

ScanResult scan_paths(int root_fd, HashCache& cache, const std::vector<std::string>& paths,
                      const ScanOptions& options) {
    ScanResult result;
    Scanner scanner{cache, options, result};
    const std::function<bool(const std::string&)> keep = [](const std::string&) { return true; };
    std::string open_dir;
    UniqueFd dir_fd;
    bool dir_ok = false;
    std::vector<std::string> sorted(paths);
    std::sort(sorted.begin(), sorted.end());
    sorted.erase(std::unique(sorted.begin(), sorted.end()), sorted.end());
    for (const auto& path : sorted) {
        if (path.empty() || path_problem(path)) continue;
        std::string parent = parent_of(path);
        if (!dir_fd && !dir_ok) open_dir = "\n";  // nothing open yet
        if (parent != open_dir) {
            open_dir = parent;
            // No symlink is followed on the way; a missing or non-directory parent means the
            // path does not exist here (the parent itself is one of `paths` when it matters).
            dir_fd = open_dir_beneath(root_fd, parent);
            dir_ok = static_cast<bool>(dir_fd);
        }
        if (!dir_ok) continue;
        const std::size_t depth = std::count(path.begin(), path.end(), '/');
        scanner.scan_entry(dir_fd.get(), parent, std::string(base_name(path)), depth, &keep);
        if (!result.ok()) break;
    }
    if (!result.ok()) result.manifest.clear();
    return result;
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
