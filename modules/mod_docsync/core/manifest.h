// The manifest: what an export contains, one entry per path (file, directory or symlink), and
// its wire format.
//
// Format (version 1, line based, every line ends in '\n'):
//   DSM1 <entry-count>                               full manifest
//   DSM1D <base-etag> <entry-count> <removed-count>  changes since the manifest <base-etag>
//   f <mode-octal> <size> <mtime-ns> <sha256-hex> <path>
//   d <mode-octal> 0 <mtime-ns> - <path>
//   l 777 <target-length> <mtime-ns> - <path> <target>
//   x <path>                                         (delta only: removed)
// Paths and targets are percent-encoded (path_policy.h). Entries are strictly sorted by path
// bytes, every parent directory precedes its children, sizes and counts are bounded: the parser
// rejects anything else, so a hostile primary can neither grow memory without bound nor smuggle
// a path that was not checked. The ETag of a manifest is the SHA-256 of its full serialisation,
// which lets a client verify that a delta applied to its copy produced the same manifest.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace docsync {

inline constexpr std::size_t kMaxManifestEntries = 1'000'000;
inline constexpr std::size_t kMaxManifestBytes = 256u << 20;  // 256 MiB
inline constexpr std::uint64_t kMaxFileBytes = 1ull << 40;    // 1 TiB: sanity, not policy
inline constexpr std::uint32_t kModeMask = 01777;             // rwx + sticky; never setuid/gid

enum class EntryType : char { kFile = 'f', kDir = 'd', kSymlink = 'l' };

struct Entry {
    EntryType type = EntryType::kFile;
    std::uint32_t mode = 0644;
    std::uint64_t size = 0;  // files: bytes; symlinks: target length; dirs: 0
    std::int64_t mtime_ns = 0;
    std::string sha256;  // files only: 64 lowercase hex
    std::string target;  // symlinks only

    bool operator==(const Entry& o) const {
        return type == o.type && mode == o.mode && size == o.size && mtime_ns == o.mtime_ns &&
               sha256 == o.sha256 && target == o.target;
    }
    bool operator!=(const Entry& o) const { return !(*this == o); }
};

// Sorted by path bytes (std::map's order on std::string is bytewise).
using Manifest = std::map<std::string, Entry>;

std::string serialise(const Manifest& m);
std::string manifest_etag(const Manifest& m);  // sha256 hex of serialise(m)

struct ManifestChanges {
    std::string base_etag;
    Manifest changed;                  // added or modified entries
    std::vector<std::string> removed;  // sorted
};
ManifestChanges manifest_changes(const Manifest& from, const Manifest& to,
                                 const std::string& from_etag);
std::string serialise(const ManifestChanges& c);

struct ParsedManifest {
    bool is_delta = false;
    Manifest entries;                  // full manifest, or changed entries of a delta
    std::string base_etag;             // delta only
    std::vector<std::string> removed;  // delta only
    std::string error;                 // non-empty: rejected, nothing else is meaningful
    bool ok() const { return error.empty(); }
};
ParsedManifest parse_manifest(std::string_view text, std::size_t max_entries = kMaxManifestEntries);

// Applies a parsed delta to `base`; fails (returns false, `base` unspecified) if the result
// violates the manifest invariants (e.g. an orphan child). `base` must meet them (as every
// manifest parsed or applied here does): only the entries the delta touches are checked.
bool apply_changes(Manifest& base, const ParsedManifest& delta, std::string* error);

// The invariants the parser enforces on a full manifest (valid paths, parents are directories).
std::optional<std::string> manifest_problem(const Manifest& m);

}  // namespace docsync
