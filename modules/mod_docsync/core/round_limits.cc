#include "round_limits.h"

#include <sys/statvfs.h>

#include <algorithm>
#include <charconv>

#include "../../common/duration.h"
#include "manifest.h"

namespace docsync {

namespace {

constexpr std::chrono::seconds kMaxTimeout{7 * 24 * 3600};

bool parse_count(std::string_view s, std::size_t* out) {
    if (s.empty() || s[0] < '0' || s[0] > '9') return false;
    auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

bool parse_seconds(const std::string& name, std::string_view value, std::string* error,
                   std::optional<std::chrono::seconds>* out) {
    auto d = suite::parse_duration(value, std::chrono::seconds(1));
    if (!d) {
        *error = name + ": " + d.error;
        return false;
    }
    if (*d.value < std::chrono::seconds(1) || *d.value > kMaxTimeout) {
        *error = name + ": must be between 1s and 7 days";
        return false;
    }
    *out = std::chrono::duration_cast<std::chrono::seconds>(*d.value);
    return true;
}

std::string size_text(std::uint64_t bytes) {
    return std::to_string(bytes) + " bytes";
}

}  // namespace

bool parse_limit_option(const std::string& arg, RoundLimitSettings* s, std::string* error) {
    auto eq = arg.find('=');
    if (eq == std::string::npos) return false;
    std::string name = arg.substr(0, eq);
    std::string_view value = std::string_view(arg).substr(eq + 1);
    if (name == "max-bytes") {
        if (value == "off") {
            s->max_bytes = 0;
            return true;
        }
        auto size = suite::parse_size(value);
        if (!size || *size.value == 0)
            *error = "max-bytes: a size such as 512M or 4G, or off" +
                     (size ? std::string() : ": " + size.error);
        else
            s->max_bytes = *size.value;
    } else if (name == "max-files") {
        std::size_t n = 0;
        if (!parse_count(value, &n) || n == 0 || n > kMaxManifestEntries)
            *error = "max-files: a count from 1 to " + std::to_string(kMaxManifestEntries);
        else
            s->max_files = n;
    } else if (name == "max-delete") {
        // Given once or twice: a count and/or a percentage of the local entries.
        if (!s->max_delete_given) {
            s->max_delete_count.reset();
            s->max_delete_percent.reset();
        }
        s->max_delete_given = true;
        std::size_t n = 0;
        if (value == "off") {
            s->max_delete_count.reset();
            s->max_delete_percent.reset();
        } else if (!value.empty() && value.back() == '%') {
            if (!parse_count(value.substr(0, value.size() - 1), &n) || n > 100)
                *error = "max-delete: a percentage from 0% to 100%";
            else
                s->max_delete_percent = static_cast<unsigned>(n);
        } else if (parse_count(value, &n)) {
            s->max_delete_count = n;
        } else {
            *error = "max-delete: a count, a percentage such as 10%, or off";
        }
    } else if (name == "empty-manifest") {
        if (value == "refuse")
            s->refuse_empty_manifest = true;
        else if (value == "allow")
            s->refuse_empty_manifest = false;
        else
            *error = "empty-manifest: refuse or allow";
    } else if (name == "stall-timeout") {
        parse_seconds(name, value, error, &s->stall_timeout);
    } else if (name == "round-timeout") {
        parse_seconds(name, value, error, &s->round_timeout);
    } else {
        return false;
    }
    return true;
}

RoundLimits resolve_limits(const RoundLimitSettings& s, bool restart_graceful) {
    RoundLimits l;
    l.max_bytes = s.max_bytes.value_or(restart_graceful ? kGracefulMaxBytes : 0);
    l.max_files = s.max_files.value_or(restart_graceful ? kGracefulMaxFiles : kDocrootMaxFiles);
    if (s.max_delete_given) {
        l.max_delete_count = s.max_delete_count;
        l.max_delete_percent = s.max_delete_percent;
    } else if (restart_graceful) {
        l.max_delete_count = kGracefulMaxDelete;
    }
    l.refuse_empty_manifest = s.refuse_empty_manifest.value_or(true);
    if (s.stall_timeout) l.stall_timeout = *s.stall_timeout;
    if (s.round_timeout) l.round_timeout = *s.round_timeout;
    return l;
}

std::string describe(const RoundLimits& l) {
    std::string out = "max-bytes=" + (l.max_bytes ? std::to_string(l.max_bytes) : "off") +
                      " max-files=" + std::to_string(l.max_files);
    if (!l.max_delete_count && !l.max_delete_percent) out += " max-delete=off";
    if (l.max_delete_count) out += " max-delete=" + std::to_string(*l.max_delete_count);
    if (l.max_delete_percent) out += " max-delete=" + std::to_string(*l.max_delete_percent) + "%";
    out += std::string(" empty-manifest=") + (l.refuse_empty_manifest ? "refuse" : "allow");
    out += " stall-timeout=" + std::to_string(l.stall_timeout.count()) + "s";
    out += " round-timeout=" + std::to_string(l.round_timeout.count()) + "s";
    return out;
}

std::optional<std::string> limit_problem(const RoundTotals& t, const RoundLimits& l) {
    if (t.remote_entries > l.max_files)
        return "the manifest has " + std::to_string(t.remote_entries) +
               " entries, more than max-files=" + std::to_string(l.max_files);
    if (l.refuse_empty_manifest && t.remote_entries == 0 && t.deletions > 0)
        return "an empty manifest would delete all " + std::to_string(t.deletions) +
               " local entries (empty-manifest=refuse)";
    if (l.max_delete_count && t.deletions > *l.max_delete_count)
        return "the round would delete " + std::to_string(t.deletions) +
               " entries, more than max-delete=" + std::to_string(*l.max_delete_count);
    if (l.max_delete_percent && t.deletions > 0 &&
        t.deletions * 100 > static_cast<std::uint64_t>(*l.max_delete_percent) * t.local_entries)
        return "the round would delete " + std::to_string(t.deletions) + " of " +
               std::to_string(t.local_entries) +
               " local entries, more than max-delete=" + std::to_string(*l.max_delete_percent) +
               "%";
    if (l.max_bytes && t.bytes_to_write > l.max_bytes)
        return "the round would write " + size_text(t.bytes_to_write) +
               ", more than max-bytes=" + std::to_string(l.max_bytes);
    return std::nullopt;
}

std::optional<FreeSpace> free_space_of(int fd) {
    struct statvfs v;
    if (::fstatvfs(fd, &v) != 0) return std::nullopt;
    FreeSpace s;
    const std::uint64_t unit = v.f_frsize ? v.f_frsize : v.f_bsize;
    s.bytes_available = static_cast<std::uint64_t>(v.f_bavail) * unit;
    s.bytes_total = static_cast<std::uint64_t>(v.f_blocks) * unit;
    s.inodes_available = v.f_favail;
    s.inodes_total = v.f_files;
    return s;
}

std::optional<std::string> space_problem(std::uint64_t bytes, std::uint64_t inodes,
                                         const FreeSpace& s) {
    const std::uint64_t byte_margin =
        std::max(kMinFreeBytes, s.bytes_total / 100 * kMinFreePercent);
    if (s.bytes_available < byte_margin || bytes > s.bytes_available - byte_margin)
        return "not enough free space: the round needs " + size_text(bytes) + ", " +
               size_text(s.bytes_available) + " are available and " + size_text(byte_margin) +
               " stay free";
    if (s.inodes_total == 0) return std::nullopt;  // e.g. btrfs: no fixed inode count
    const std::uint64_t inode_margin =
        std::max(kMinFreeInodes, s.inodes_total / 100 * kMinFreePercent);
    if (s.inodes_available < inode_margin || inodes > s.inodes_available - inode_margin)
        return "not enough free inodes: the round needs " + std::to_string(inodes) + ", " +
               std::to_string(s.inodes_available) + " are available and " +
               std::to_string(inode_margin) + " stay free";
    return std::nullopt;
}

}  // namespace docsync
