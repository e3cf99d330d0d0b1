// Aggregate limits of one sync round, per DocSyncSource: what a primary (or whoever answers in
// its name) may make the secondary do in one round, beyond the per-message bounds of the wire
// formats. A round that would exceed one applies nothing; the reason is reported.
//
// The defaults depend on the kind of source. A restart=graceful source is the server's own
// configuration, where an `IncludeOptional dir/*.conf` makes an emptied directory a *valid*
// configuration, so the configtest cannot catch a wipe: there the limits are small and an
// empty manifest never empties a non-empty tree. A docroot source gets limits that only stop
// the absurd.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

namespace docsync {

inline constexpr std::size_t kDocrootMaxFiles = 200'000;
inline constexpr std::uint64_t kGracefulMaxBytes = 64u << 20;
inline constexpr std::size_t kGracefulMaxFiles = 10'000;
inline constexpr std::size_t kGracefulMaxDelete = 10;

// Default-constructed: the defaults of a docroot source.
struct RoundLimits {
    std::uint64_t max_bytes = 0;  // file bytes a round may write; 0: no limit (free space only)
    std::size_t max_files = kDocrootMaxFiles;  // entries of the primary's manifest
    std::optional<std::size_t> max_delete_count;
    std::optional<unsigned> max_delete_percent;  // of the local entries
    bool refuse_empty_manifest = true;           // an empty manifest never empties a tree
    // A transfer that moves less than kStallBytesPerSecond for this long is abandoned.
    std::chrono::seconds stall_timeout{60};
    // The longest a round may take, requests and writes included.
    std::chrono::seconds round_timeout{3600};
};

inline constexpr std::uint64_t kStallBytesPerSecond = 1024;

// What `max-...=` options a DocSyncSource line gave; the rest takes the defaults.
struct RoundLimitSettings {
    std::optional<std::uint64_t> max_bytes;
    std::optional<std::size_t> max_files;
    bool max_delete_given = false;
    std::optional<std::size_t> max_delete_count;
    std::optional<unsigned> max_delete_percent;
    std::optional<bool> refuse_empty_manifest;
    std::optional<std::chrono::seconds> stall_timeout;
    std::optional<std::chrono::seconds> round_timeout;
};

// Parses one DocSyncSource argument if it is a limit option: true if it was one (then *error
// is set when its value is bad), false if the argument is something else.
bool parse_limit_option(const std::string& arg, RoundLimitSettings* settings, std::string* error);

RoundLimits resolve_limits(const RoundLimitSettings& settings, bool restart_graceful);

// "max-bytes=... max-files=..." as the options would be written: for logs and fingerprints.
std::string describe(const RoundLimits& limits);

// What a plan would do, summed up for the limit checks.
struct RoundTotals {
    std::size_t local_entries = 0;
    std::size_t remote_entries = 0;
    std::size_t deletions = 0;          // local entries the round removes (subtrees included)
    std::uint64_t bytes_to_write = 0;   // content of the files it fetches
    std::size_t entries_to_create = 0;  // files, directories and symlinks (inodes)
};

// Empty optional if the round is within the limits; otherwise the reason, naming the option.
std::optional<std::string> limit_problem(const RoundTotals& totals, const RoundLimits& limits);

struct FreeSpace {
    std::uint64_t bytes_available = 0;  // to an unprivileged user (f_bavail)
    std::uint64_t bytes_total = 0;
    std::uint64_t inodes_available = 0;
    std::uint64_t inodes_total = 0;  // 0: the file system does not count inodes
};

// Reads the free space of the file system holding `fd`.
std::optional<FreeSpace> free_space_of(int fd);

// Empty optional if writing `bytes` in `inodes` new entries leaves the file system its margin
// (kMinFreeBytes or kMinFreeFraction of it, whichever is larger; the same for inodes).
std::optional<std::string> space_problem(std::uint64_t bytes, std::uint64_t inodes,
                                         const FreeSpace& space);

inline constexpr std::uint64_t kMinFreeBytes = 64u << 20;
inline constexpr std::uint64_t kMinFreeInodes = 1024;
inline constexpr unsigned kMinFreePercent = 2;

}  // namespace docsync
