// What a relative path from the network may look like before it is used under a sync root.
// Every path in a manifest, in a request and in a batch passes through here; the file-system
// layer (safe_fs.h) then resolves it one component at a time without following symlinks, so a
// path that passes this check still cannot leave the root through a symlink.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace docsync {

inline constexpr std::size_t kMaxPathBytes = 4096;      // PATH_MAX on Linux
inline constexpr std::size_t kMaxComponentBytes = 255;  // NAME_MAX on Linux
inline constexpr std::size_t kMaxPathDepth = 64;
inline constexpr std::size_t kMaxSymlinkTargetBytes = 4096;

// Prefix of the sync's own temporary files; such names are never synced or served.
inline constexpr std::string_view kTempPrefix = ".docsync-tmp-";
// Prefixes of what the sync keeps beside a synced directory: its staging copy and its persistent
// state (manifest version). Never part of a tree: not scanned, published, fetched or deleted,
// even when a tree holds one (a source synced into a subdirectory of an exported directory).
inline constexpr std::string_view kStagePrefix = ".docsync-stage.";
inline constexpr std::string_view kStatePrefix = ".docsync-state.";
inline bool is_sync_private_name(std::string_view name) {
    return name.substr(0, kStagePrefix.size()) == kStagePrefix ||
           name.substr(0, kStatePrefix.size()) == kStatePrefix;
}

// Empty optional if `path` is an acceptable relative path: non-empty components separated by
// single '/', none "." or "..", no leading '/', no NUL or other control character, bounded
// length and depth, not one of our temp, staging or state names. Otherwise the reason.
std::optional<std::string> path_problem(std::string_view path);
inline bool is_valid_relative_path(std::string_view path) {
    return !path_problem(path);
}

// A symlink target is "safe" under rsync's post-2024 --safe-links rule (rsync 3.4.0,
// CVE-2024-12088): it is relative, non-empty, its ".." components all come first (a run of
// leading "../", nothing like "a/../b" or a trailing "/.."), and those leading ".." never climb
// above the directory holding the link. Why ".." only at the start: a lexical check of
// "b/b/../../x" trusts that "b" is a directory, but "b" may itself be (or later become) a
// symlink such as "b -> .", and the kernel applies ".." to where "b" really led. With every
// ".." first, they are applied to the link's own, real parent directories (the sync creates
// entries without following symlinks), and the rest of the target only descends; a descent
// through other safe links stays inside by the same argument, so chains of safe links cannot
// leave the root either. Unsafe links are neither exported nor created.
bool is_safe_symlink_target(std::string_view link_path, std::string_view target);

// Paths and link targets travel percent-encoded in the line-based formats: every byte that is
// not a printable ASCII character other than '%' and ' ' is written as %XX.
std::string percent_encode(std::string_view raw);
// Strict: only %XX with two hex digits; no raw byte that encode() would have escaped.
std::optional<std::string> percent_decode(std::string_view encoded);

// For a query-string value: every byte except unreserved characters and '/' as %XX.
std::string url_encode(std::string_view raw);

std::string parent_of(std::string_view path);  // "" for a top-level name
std::string_view base_name(std::string_view path);

// fnmatch(3)-style glob against the whole relative path or its last component
// (so "*.swp" excludes editor files anywhere and "cache/*" one subtree).
bool glob_excludes(std::string_view glob, std::string_view path);

}  // namespace docsync
