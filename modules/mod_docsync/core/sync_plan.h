// Turns (local manifest, remote manifest) into the ordered actions that make the local tree
// equal to the remote one. Pure: no I/O, so every ordering rule is unit-tested.
//
// Order, and why:
//   1. remove local entries whose type differs from the remote one at that path (a file where a
//      directory must go, a symlink where a file must go), deepest first;
//   2. mkdir missing directories, parents first (the manifest order guarantees it);
//   3. rename a local file that is about to be deleted and has exactly the wanted content
//      (same hash and size) to its new path: a rename on the primary costs no transfer;
//   4. fetch new and changed files (with the local file as delta basis when there is one);
//   5. create or replace symlinks (only "safe" ones, path_policy.h);
//   6. fix modes and mtimes of files that did not need content;
//   7. delete local entries absent from the remote (when delete=on), deepest first;
//   8. directory modes and mtimes last, because every step above touches directory mtimes.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "manifest.h"
#include "round_limits.h"

namespace docsync {

struct PlanOptions {
    bool delete_extraneous = true;
    std::vector<std::string> excludes;
    // Permission bits never given to a synced entry, whatever the primary's mode: a
    // restart=graceful source (root's configuration) strips group and other write (022), a
    // docroot strips other write (002).
    std::uint32_t strip_mode_bits = 0;
    // Whether a local file may serve as the delta basis for `path` (its librsync signature is
    // then sent to the primary). Unset: any local file may.
    std::function<bool(const std::string& path, const Entry& local)> may_be_basis;
};

// The mode a synced entry gets for the remote entry `e`.
inline std::uint32_t wanted_mode(const Entry& e, const PlanOptions& o) {
    return e.mode & kModeMask & ~o.strip_mode_bits;
}

enum class ActionKind { kRemove, kMkdir, kRename, kFetch, kSymlink, kSetMode, kSetMtime };
const char* to_string(ActionKind k);

struct Action {
    ActionKind kind;
    std::string path;
    std::string from;        // rename: source path
    Entry entry;             // remote entry (target state)
    bool has_basis = false;  // fetch: a local regular file exists at `path` (delta possible)
    std::uint64_t basis_size = 0;
    std::string basis_sha256 = {};  // fetch with a basis: the local file's content hash
};

struct Plan {
    std::vector<Action> actions;
    std::vector<std::string> refused;  // remote entries not applied (unsafe symlinks)
    RoundTotals totals;                // what the actions add up to (round_limits.h)
    bool empty() const { return actions.empty(); }
    std::size_t count(ActionKind k) const;
};

// Works on the manifests in place (no copy of either unless there are excludes): a manifest
// may have a million entries.
Plan make_plan(const Manifest& local, const Manifest& remote, const PlanOptions& options);

// Entries of `m` not matching any exclude glob.
Manifest without_excluded(const Manifest& m, const std::vector<std::string>& excludes);

}  // namespace docsync
