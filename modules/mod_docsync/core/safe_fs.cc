#include "safe_fs.h"

#include <dirent.h>
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "crypto.h"
#include "path_policy.h"

namespace docsync {

namespace {

// Temp files are written in chunks no larger than this, so a short write is retried, not lost.
constexpr std::size_t kCopyChunkBytes = 256 * 1024;
constexpr int kMaxRemoveDepth = 128;

timespec to_timespec(std::int64_t ns) {
    timespec ts;
    ts.tv_sec = ns / 1'000'000'000;
    ts.tv_nsec = ns % 1'000'000'000;
    if (ts.tv_nsec < 0) {
        ts.tv_nsec += 1'000'000'000;
        ts.tv_sec -= 1;
    }
    return ts;
}

bool write_all(int fd, const void* data, std::size_t len) {
    const char* p = static_cast<const char*>(data);
    while (len) {
        ssize_t n = ::write(fd, p, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        p += n;
        len -= static_cast<std::size_t>(n);
    }
    return true;
}

bool remove_at_depth(int dir_fd, const char* name, int depth);

bool remove_children(int fd, int depth) {
    std::vector<std::string> names;
    if (!list_dir(fd, &names)) return false;
    bool ok = true;
    for (const auto& n : names) ok = remove_at_depth(fd, n.c_str(), depth + 1) && ok;
    return ok;
}

bool remove_at_depth(int dir_fd, const char* name, int depth) {
    if (depth > kMaxRemoveDepth) return false;
    if (::unlinkat(dir_fd, name, 0) == 0 || errno == ENOENT) return true;
    if (errno != EISDIR && errno != EPERM) return false;
    UniqueFd sub(::openat(dir_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sub) return false;
    if (!remove_children(sub.get(), depth)) return false;
    return ::unlinkat(dir_fd, name, AT_REMOVEDIR) == 0 || errno == ENOENT;
}

}  // namespace

bool list_dir(int dir_fd, std::vector<std::string>* names) {
    int dup_fd = ::fcntl(dir_fd, F_DUPFD_CLOEXEC, 0);
    if (dup_fd < 0) return false;
    DIR* d = ::fdopendir(dup_fd);
    if (!d) {
        ::close(dup_fd);
        return false;
    }
    // The dup shares its directory offset with dir_fd, which an earlier listing may have left
    // at the end.
    ::rewinddir(d);
    names->clear();
    while (dirent* de = ::readdir(d)) {
        if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
        names->emplace_back(de->d_name);
    }
    ::closedir(d);
    return true;
}

std::string errno_text(int err) {
    char buf[128];
    return std::string(strerror_r(err, buf, sizeof buf));
}

UniqueFd open_root(const std::string& path) {
    return UniqueFd(::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
}

UniqueFd open_dir_beneath(int root_fd, std::string_view rel_dir, bool create) {
    UniqueFd current(::fcntl(root_fd, F_DUPFD_CLOEXEC, 0));
    if (!current || rel_dir.empty()) return current;
    if (path_problem(rel_dir)) {
        errno = EINVAL;
        return UniqueFd();
    }
    std::size_t start = 0;
    while (start <= rel_dir.size()) {
        std::size_t end = rel_dir.find('/', start);
        if (end == std::string_view::npos) end = rel_dir.size();
        std::string comp(rel_dir.substr(start, end - start));
        int fd =
            ::openat(current.get(), comp.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0 && errno == ENOENT && create) {
            if (::mkdirat(current.get(), comp.c_str(), 0755) != 0 && errno != EEXIST)
                return UniqueFd();
            fd = ::openat(current.get(), comp.c_str(),
                          O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        }
        if (fd < 0) return UniqueFd();
        current.reset(fd);
        start = end + 1;
    }
    return current;
}

UniqueFd open_file_beneath(int root_fd, std::string_view rel_path, struct stat* st) {
    if (path_problem(rel_path)) {
        errno = EINVAL;
        return UniqueFd();
    }
    UniqueFd dir = open_dir_beneath(root_fd, parent_of(rel_path));
    if (!dir) return UniqueFd();
    std::string name(base_name(rel_path));
    // O_NONBLOCK: a FIFO planted in the tree must not hang the reader.
    UniqueFd fd(::openat(dir.get(), name.c_str(),
                         O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY));
    if (!fd) return fd;
    struct stat local;
    struct stat* s = st ? st : &local;
    if (::fstat(fd.get(), s) != 0) return UniqueFd();
    if (!S_ISREG(s->st_mode)) {
        errno = EINVAL;
        return UniqueFd();
    }
    return fd;
}

struct AtomicFileWriter::HashState {
    Sha256 sha;
};

AtomicFileWriter::AtomicFileWriter(int root_fd, std::string rel_path)
    : rel_path_(std::move(rel_path)) {
    if (auto problem = path_problem(rel_path_)) {
        fail("refused path: " + *problem);
        return;
    }
    dir_ = open_dir_beneath(root_fd, parent_of(rel_path_));
    if (!dir_) {
        fail("cannot open parent directory: " + errno_text(errno));
        return;
    }
    name_ = std::string(base_name(rel_path_));
    temp_name_ = std::string(kTempPrefix) + random_hex(8);
    file_.reset(::openat(dir_.get(), temp_name_.c_str(),
                         O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!file_) {
        fail("cannot create temp file: " + errno_text(errno));
        temp_name_.clear();
        return;
    }
    hash_ = new HashState;
}

AtomicFileWriter::~AtomicFileWriter() {
    if (!committed_ && !temp_name_.empty() && dir_) ::unlinkat(dir_.get(), temp_name_.c_str(), 0);
    delete hash_;
}

void AtomicFileWriter::fail(const std::string& what) {
    if (error_.empty()) error_ = rel_path_ + ": " + what;
}

bool AtomicFileWriter::write(const void* data, std::size_t len) {
    if (!ok()) return false;
    if (!write_all(file_.get(), data, len)) {
        fail("write failed: " + errno_text(errno));
        return false;
    }
    hash_->sha.update(data, len);
    written_ += len;
    return true;
}

bool AtomicFileWriter::commit(std::uint64_t expected_size, const std::string& expected_sha256,
                              std::uint32_t mode, std::int64_t mtime_ns) {
    if (!ok()) return false;
    if (written_ != expected_size) {
        fail("size " + std::to_string(written_) + " differs from manifest " +
             std::to_string(expected_size));
        return false;
    }
    std::string got = hash_->sha.hex_digest();
    if (!constant_time_equal(got, expected_sha256)) {
        fail("content hash differs from manifest");
        return false;
    }
    timespec times[2] = {to_timespec(mtime_ns), to_timespec(mtime_ns)};
    if (::fchmod(file_.get(), mode & 01777) != 0 || ::futimens(file_.get(), times) != 0) {
        fail("cannot set mode/mtime: " + errno_text(errno));
        return false;
    }
    struct stat st;
    if (::fstat(file_.get(), &st) == 0) inode_ = static_cast<std::uint64_t>(st.st_ino);
    file_.reset();
    // renameat replaces a symlink at the destination name itself; it never writes through it.
    if (::renameat(dir_.get(), temp_name_.c_str(), dir_.get(), name_.c_str()) != 0) {
        fail("rename into place failed: " + errno_text(errno));
        return false;
    }
    committed_ = true;
    return true;
}

bool remove_at(int dir_fd, const char* name) {
    return remove_at_depth(dir_fd, name, 0);
}

bool remove_beneath(int root_fd, std::string_view rel_path) {
    if (path_problem(rel_path)) return false;
    UniqueFd dir = open_dir_beneath(root_fd, parent_of(rel_path));
    if (!dir) return errno == ENOENT;
    return remove_at(dir.get(), std::string(base_name(rel_path)).c_str());
}

bool make_symlink_beneath(int root_fd, std::string_view rel_path, const std::string& target,
                          std::int64_t mtime_ns) {
    if (path_problem(rel_path)) return false;
    UniqueFd dir = open_dir_beneath(root_fd, parent_of(rel_path));
    if (!dir) return false;
    std::string name(base_name(rel_path));
    std::string temp = std::string(kTempPrefix) + random_hex(8);
    if (::symlinkat(target.c_str(), dir.get(), temp.c_str()) != 0) return false;
    timespec times[2] = {to_timespec(mtime_ns), to_timespec(mtime_ns)};
    ::utimensat(dir.get(), temp.c_str(), times, AT_SYMLINK_NOFOLLOW);
    if (::renameat(dir.get(), temp.c_str(), dir.get(), name.c_str()) != 0) {
        ::unlinkat(dir.get(), temp.c_str(), 0);
        return false;
    }
    return true;
}

bool set_mode_beneath(int root_fd, std::string_view rel_path, std::uint32_t mode) {
    if (path_problem(rel_path)) return false;
    UniqueFd dir = open_dir_beneath(root_fd, parent_of(rel_path));
    if (!dir) return false;
    std::string name(base_name(rel_path));
    // fchmodat has no working AT_SYMLINK_NOFOLLOW on Linux: open the object itself, refusing
    // symlinks, and change the mode through the descriptor.
    UniqueFd fd(::openat(dir.get(), name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
    if (!fd) fd.reset(::openat(dir.get(), name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return false;
    struct stat st;
    if (::fstat(fd.get(), &st) != 0 || S_ISLNK(st.st_mode)) return false;
    if (S_ISREG(st.st_mode) && st.st_nlink != 1) {
        errno = EMLINK;
        return false;
    }
    return ::fchmod(fd.get(), mode & 01777) == 0;
}

bool set_mtime_beneath(int root_fd, std::string_view rel_path, std::int64_t mtime_ns) {
    if (path_problem(rel_path)) return false;
    UniqueFd dir = open_dir_beneath(root_fd, parent_of(rel_path));
    if (!dir) return false;
    timespec times[2] = {to_timespec(mtime_ns), to_timespec(mtime_ns)};
    return ::utimensat(dir.get(), std::string(base_name(rel_path)).c_str(), times,
                       AT_SYMLINK_NOFOLLOW) == 0;
}

bool rename_beneath(int root_fd, std::string_view from, std::string_view to) {
    if (path_problem(from) || path_problem(to)) return false;
    UniqueFd from_dir = open_dir_beneath(root_fd, parent_of(from));
    UniqueFd to_dir = open_dir_beneath(root_fd, parent_of(to));
    if (!from_dir || !to_dir) return false;
    return ::renameat(from_dir.get(), std::string(base_name(from)).c_str(), to_dir.get(),
                      std::string(base_name(to)).c_str()) == 0;
}

namespace {
bool copy_tree_depth(int src, int dst, int depth) {
    if (depth > kMaxRemoveDepth) return false;
    std::vector<std::string> names;
    if (!list_dir(src, &names)) return false;
    for (const auto& n : names) {
        struct stat st;
        if (::fstatat(src, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return false;
        timespec times[2] = {st.st_mtim, st.st_mtim};
        if (S_ISDIR(st.st_mode)) {
            if (::mkdirat(dst, n.c_str(), 0700) != 0) return false;
            UniqueFd s(::openat(src, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            UniqueFd t(::openat(dst, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!s || !t || !copy_tree_depth(s.get(), t.get(), depth + 1)) return false;
            ::fchmod(t.get(), st.st_mode & 01777);
            ::futimens(t.get(), times);
        } else if (S_ISLNK(st.st_mode)) {
            std::vector<char> buf(kMaxSymlinkTargetBytes + 1);
            ssize_t len = ::readlinkat(src, n.c_str(), buf.data(), buf.size());
            if (len < 0 || static_cast<std::size_t>(len) >= buf.size()) return false;
            if (::symlinkat(std::string(buf.data(), len).c_str(), dst, n.c_str()) != 0)
                return false;
            ::utimensat(dst, n.c_str(), times, AT_SYMLINK_NOFOLLOW);
        } else if (S_ISREG(st.st_mode)) {
            UniqueFd s(::openat(src, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
            UniqueFd t(::openat(dst, n.c_str(),
                                O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
            if (!s || !t) return false;
            std::vector<char> buf(kCopyChunkBytes);
            for (;;) {
                ssize_t r = ::read(s.get(), buf.data(), buf.size());
                if (r < 0 && errno == EINTR) continue;
                if (r < 0) return false;
                if (r == 0) break;
                if (!write_all(t.get(), buf.data(), static_cast<std::size_t>(r))) return false;
            }
            ::fchmod(t.get(), st.st_mode & 01777);
            ::futimens(t.get(), times);
        }
        // Sockets, FIFOs and devices are not part of a synced tree.
    }
    return true;
}
}  // namespace

bool copy_tree(int src_dir_fd, int dst_dir_fd) {
    return copy_tree_depth(src_dir_fd, dst_dir_fd, 0);
}

bool clear_dir(int dir_fd) {
    return remove_children(dir_fd, 0);
}

namespace {
bool fsync_tree_depth(int dir_fd, int depth) {
    if (depth > kMaxRemoveDepth) return false;
    std::vector<std::string> names;
    if (!list_dir(dir_fd, &names)) return false;
    bool ok = true;
    for (const auto& n : names) {
        struct stat st;
        if (::fstatat(dir_fd, n.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) {
            ok = false;
            continue;
        }
        if (S_ISDIR(st.st_mode)) {
            UniqueFd sub(
                ::openat(dir_fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            ok = sub && fsync_tree_depth(sub.get(), depth + 1) && ok;
        } else if (S_ISREG(st.st_mode)) {
            UniqueFd f(::openat(dir_fd, n.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK));
            ok = f && ::fsync(f.get()) == 0 && ok;
        }
        // A symlink's target text is part of its directory entry's inode, written with the
        // directory's metadata: the directory fsync below covers it.
    }
    return ::fsync(dir_fd) == 0 && ok;
}

bool give_entry(int fd, uid_t uid, gid_t gid, OwnershipChange& out) {
    struct stat st;
    if (::fstat(fd, &st) != 0) return false;
    if (S_ISREG(st.st_mode) && st.st_nlink != 1) {
        ++out.skipped;
        return true;
    }
    if (st.st_uid == uid && st.st_gid == gid) return true;
    if (::fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0) return false;
    ++out.changed;
    return true;
}

void give_tree_depth(int dir_fd, uid_t uid, gid_t gid, const std::string& rel,
                     const std::function<bool(const std::string&)>& keep, int depth,
                     OwnershipChange& out) {
    if (!out.ok) return;
    if (depth > kMaxRemoveDepth) {
        out.ok = false;
        out.error = "tree deeper than " + std::to_string(kMaxRemoveDepth);
        return;
    }
    if (!give_entry(dir_fd, uid, gid, out)) {
        out.ok = false;
        out.error = errno_text(errno);
        return;
    }
    std::vector<std::string> names;
    if (!list_dir(dir_fd, &names)) {
        out.ok = false;
        out.error = "cannot list a directory: " + errno_text(errno);
        return;
    }
    for (const auto& n : names) {
        const std::string child = rel.empty() ? n : rel + "/" + n;
        if (keep && keep(child)) continue;
        UniqueFd entry(::openat(dir_fd, n.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
        if (!entry) {
            if (errno == ENOENT) continue;
            out.ok = false;
            out.error = n + ": " + errno_text(errno);
            return;
        }
        struct stat st;
        if (::fstat(entry.get(), &st) != 0) continue;
        if (S_ISDIR(st.st_mode)) {
            UniqueFd sub(
                ::openat(dir_fd, n.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (!sub) continue;  // replaced since: not ours to chase
            give_tree_depth(sub.get(), uid, gid, child, keep, depth + 1, out);
        } else if (!give_entry(entry.get(), uid, gid, out)) {
            out.ok = false;
            out.error = n + ": " + errno_text(errno);
        }
        if (!out.ok) return;
    }
}
}  // namespace

bool fsync_tree(int dir_fd) {
    return fsync_tree_depth(dir_fd, 0);
}

OwnershipChange give_tree_to(int dir_fd, uid_t uid, gid_t gid,
                             const std::function<bool(const std::string&)>& keep) {
    OwnershipChange out;
    give_tree_depth(dir_fd, uid, gid, "", keep, 0, out);
    return out;
}

std::optional<std::string> read_file_beneath(int root_fd, std::string_view rel_path,
                                             std::size_t max_bytes) {
    struct stat st;
    UniqueFd fd = open_file_beneath(root_fd, rel_path, &st);
    if (!fd || static_cast<std::uint64_t>(st.st_size) > max_bytes) return std::nullopt;
    std::string out;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::nullopt;
        if (n == 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > max_bytes) return std::nullopt;
    }
    return out;
}

}  // namespace docsync
