// File-system access beneath a sync root that never follows a symlink and never leaves the root.
//
// Every path is resolved one component at a time with openat(O_DIRECTORY|O_NOFOLLOW) relative to
// a directory fd, and the last component is then created, replaced (renameat) or removed
// (unlinkat) relative to its parent's fd. A symlink anywhere on the way makes the operation fail
// instead of being followed, so neither a symlink planted by a hostile manifest nor one swapped
// in by a local attacker between two steps (rsync's CVE-2024-12747 race) can redirect a write.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "unique_fd.h"

namespace docsync {

using suite::UniqueFd;

// The sync root itself is configured by the administrator and may be reached through symlinks;
// only what lies beneath it is untrusted.
UniqueFd open_root(const std::string& path);

// The directory `rel_dir` beneath `root` ("" is the root). With `create`, missing components are
// made with mode 0755. Fails (invalid fd, errno set) on a symlink or non-directory on the way.
UniqueFd open_dir_beneath(int root_fd, std::string_view rel_dir, bool create = false);

// A regular file beneath `root` for reading; fails on symlinks and on anything not regular.
UniqueFd open_file_beneath(int root_fd, std::string_view rel_path, struct stat* st = nullptr);

// Writes a file as: temp file in the destination directory (O_EXCL, mode 0600) → content →
// SHA-256 check against `expected_sha256` → mode and mtime → renameat over the destination.
// Until commit() succeeds nothing is visible under the destination name; the destructor of an
// uncommitted writer removes the temp file, so an interrupted transfer leaves no partial file.
class AtomicFileWriter {
  public:
    AtomicFileWriter(int root_fd, std::string rel_path);
    ~AtomicFileWriter();
    AtomicFileWriter(const AtomicFileWriter&) = delete;
    AtomicFileWriter& operator=(const AtomicFileWriter&) = delete;

    bool ok() const { return error_.empty(); }
    const std::string& error() const { return error_; }
    bool write(const void* data, std::size_t len);
    std::uint64_t bytes_written() const { return written_; }
    std::uint64_t inode() const { return inode_; }  // of the committed file
    // Verifies size and hash, applies mode/mtime, renames into place.
    bool commit(std::uint64_t expected_size, const std::string& expected_sha256, std::uint32_t mode,
                std::int64_t mtime_ns);

  private:
    void fail(const std::string& what);
    std::string rel_path_;
    UniqueFd dir_;
    UniqueFd file_;
    std::string temp_name_;
    std::string name_;
    std::string error_;
    std::uint64_t written_ = 0;
    std::uint64_t inode_ = 0;
    struct HashState;
    HashState* hash_ = nullptr;
    bool committed_ = false;
};

// Removes `rel_path` (recursively for directories) beneath root without following symlinks.
bool remove_beneath(int root_fd, std::string_view rel_path);
bool remove_at(int dir_fd, const char* name);  // recursive, no symlink following

bool make_symlink_beneath(int root_fd, std::string_view rel_path, const std::string& target,
                          std::int64_t mtime_ns);
// A regular file with more than one hard link is refused (errno EMLINK): its other names may lie
// outside the tree, and a mode change would reach them too.
bool set_mode_beneath(int root_fd, std::string_view rel_path, std::uint32_t mode);
bool set_mtime_beneath(int root_fd, std::string_view rel_path, std::int64_t mtime_ns);
bool rename_beneath(int root_fd, std::string_view from, std::string_view to);

// Copies a tree (files, dirs, symlinks, modes, mtimes) from one directory fd into another,
// empty one; used to stage a batch for a restart=graceful source.
bool copy_tree(int src_dir_fd, int dst_dir_fd);

// Removes everything inside `dir_fd` (not the directory itself), never following a symlink.
bool clear_dir(int dir_fd);

// fsyncs every regular file and directory of the tree, the directories last (children before
// their parent), so that after a power loss the tree is either as written or not yet swapped in.
bool fsync_tree(int dir_fd);

// Makes `dir_fd` and everything beneath it owned by uid:gid, as root, without being redirected:
// each entry is opened with O_PATH|O_NOFOLLOW relative to its directory's fd and changed through
// that fd (a symlink is changed itself, never its target); directories are descended with
// O_NOFOLLOW. A regular file with more than one hard link is left alone (its other names may be
// outside the tree) and counted in `skipped`. Entries for which `keep` returns true (given the
// path relative to `dir_fd`) keep their owner and are not descended into: a source's exclude=
// paths stay the administrator's.
struct OwnershipChange {
    bool ok = true;
    std::size_t changed = 0;  // entries whose owner or group was changed
    std::size_t skipped = 0;  // hard-linked files left alone
    std::string error;
};
OwnershipChange give_tree_to(int dir_fd, uid_t uid, gid_t gid,
                             const std::function<bool(const std::string&)>& keep = {});

// Reads all of a small file beneath root, bounded.
std::optional<std::string> read_file_beneath(int root_fd, std::string_view rel_path,
                                             std::size_t max_bytes);

// Names in the directory `dir_fd` (without "." and ".."); false if it cannot be read.
bool list_dir(int dir_fd, std::vector<std::string>* names);

std::string errno_text(int err);

}  // namespace docsync
