#include "manifest.h"

#include <algorithm>
#include <charconv>

#include "crypto.h"
#include "path_policy.h"

namespace docsync {

namespace {

// percent_encode(raw) appended, without a temporary string for the usual name that needs no
// escape.
void append_encoded(std::string& out, std::string_view raw) {
    for (char c : raw) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '%') {
            out += percent_encode(raw);
            return;
        }
    }
    out.append(raw);
}

template <class T>
void append_number(std::string& out, T value, int base = 10) {
    char digits[24];  // 2^64 in decimal has 20 digits; a mode in octal 4
    auto r = std::to_chars(digits, digits + sizeof digits, value, base);
    out.append(digits, r.ptr);
    out += ' ';
}

void append_entry(std::string& out, const std::string& path, const Entry& e) {
    out += static_cast<char>(e.type);
    out += ' ';
    append_number(out, e.mode & kModeMask, 8);
    append_number(out, e.size);
    append_number(out, e.mtime_ns);
    if (e.type == EntryType::kFile)
        out += e.sha256;
    else
        out += '-';
    out += ' ';
    append_encoded(out, path);
    if (e.type == EntryType::kSymlink) {
        out += ' ';
        append_encoded(out, e.target);
    }
    out += '\n';
}

// Splits one line into space-separated fields; at most `max_fields`.
std::vector<std::string_view> fields_of(std::string_view line, std::size_t max_fields) {
    std::vector<std::string_view> out;
    std::size_t start = 0;
    while (start <= line.size() && out.size() <= max_fields) {
        std::size_t end = line.find(' ', start);
        if (end == std::string_view::npos) end = line.size();
        out.push_back(line.substr(start, end - start));
        start = end + 1;
    }
    return out;
}

template <class T>
bool parse_number(std::string_view s, T& out, int base = 10) {
    if (s.empty() || s.size() > 20) return false;
    if (s[0] == '-' && base == 10) {
        if (s.size() == 1 || s[1] < '0' || s[1] > '9') return false;
    } else if (s[0] < '0' || s[0] > '9') {
        return false;
    }
    auto r = std::from_chars(s.data(), s.data() + s.size(), out, base);
    return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

std::optional<std::string> parse_entry(const std::vector<std::string_view>& f, std::string& path,
                                       Entry& e) {
    if (f[0].size() != 1) return "bad type";
    char t = f[0][0];
    if (t != 'f' && t != 'd' && t != 'l') return "bad type";
    e.type = static_cast<EntryType>(t);
    std::size_t want = e.type == EntryType::kSymlink ? 7 : 6;
    if (f.size() != want) return "wrong field count";
    if (!parse_number(f[1], e.mode, 8) || (e.mode & ~kModeMask)) return "bad mode";
    if (!parse_number(f[2], e.size) || e.size > kMaxFileBytes) return "bad size";
    if (!parse_number(f[3], e.mtime_ns)) return "bad mtime";
    auto p = percent_decode(f[5]);
    if (!p) return "bad path encoding";
    if (auto problem = path_problem(*p)) return "bad path: " + *problem;
    path = std::move(*p);
    switch (e.type) {
        case EntryType::kFile:
            if (f[4].size() != kSha256HexChars || !is_lower_hex(f[4])) return "bad hash";
            e.sha256 = std::string(f[4]);
            break;
        case EntryType::kDir:
            if (f[4] != "-" || e.size != 0) return "bad directory entry";
            break;
        case EntryType::kSymlink: {
            if (f[4] != "-") return "bad symlink entry";
            auto target = percent_decode(f[6]);
            if (!target || target->empty() || target->size() > kMaxSymlinkTargetBytes ||
                target->find('\0') != std::string::npos || target->size() != e.size)
                return "bad symlink target";
            e.target = std::move(*target);
            break;
        }
    }
    return std::nullopt;
}

}  // namespace

std::string serialise(const Manifest& m) {
    std::string out = "DSM1 " + std::to_string(m.size()) + "\n";
    out.reserve(m.size() * 120);
    for (const auto& [path, e] : m) append_entry(out, path, e);
    return out;
}

std::string manifest_etag(const Manifest& m) {
    // The hash of serialise(m), fed line by line: a million-entry manifest is not serialised
    // into one more string of a hundred megabytes just to be hashed.
    // Lines are gathered into pieces of about 64 KiB per update.
    constexpr std::size_t kPieceBytes = 64 * 1024;
    Sha256 sha;
    std::string piece = "DSM1 " + std::to_string(m.size()) + "\n";
    piece.reserve(kPieceBytes + 4096);
    for (const auto& [path, e] : m) {
        append_entry(piece, path, e);
        if (piece.size() >= kPieceBytes) {
            sha.update(piece.data(), piece.size());
            piece.clear();
        }
    }
    sha.update(piece.data(), piece.size());
    return sha.hex_digest();
}

ManifestChanges manifest_changes(const Manifest& from, const Manifest& to,
                                 const std::string& from_etag) {
    ManifestChanges c;
    c.base_etag = from_etag;
    // Both are sorted by path: one merged pass, no lookups.
    auto f = from.begin();
    auto t = to.begin();
    while (f != from.end() || t != to.end()) {
        if (t == to.end() || (f != from.end() && f->first < t->first)) {
            c.removed.push_back(f->first);
            ++f;
        } else if (f == from.end() || t->first < f->first) {
            c.changed.emplace_hint(c.changed.end(), t->first, t->second);
            ++t;
        } else {
            if (f->second != t->second)
                c.changed.emplace_hint(c.changed.end(), t->first, t->second);
            ++f;
            ++t;
        }
    }
    return c;
}

std::string serialise(const ManifestChanges& c) {
    std::string out = "DSM1D " + c.base_etag + " " + std::to_string(c.changed.size()) + " " +
                      std::to_string(c.removed.size()) + "\n";
    for (const auto& [path, e] : c.changed) append_entry(out, path, e);
    for (const auto& path : c.removed) out += "x " + percent_encode(path) + "\n";
    return out;
}

std::optional<std::string> manifest_problem(const Manifest& m) {
    for (const auto& [path, e] : m) {
        if (auto problem = path_problem(path)) return path + ": " + *problem;
        std::string parent = parent_of(path);
        if (!parent.empty()) {
            auto it = m.find(parent);
            if (it == m.end() || it->second.type != EntryType::kDir)
                return path + ": parent is not a directory in the manifest";
        }
    }
    return std::nullopt;
}

namespace {

// The first line: "DSM1 <count>" or "DSM1D <base-etag> <count> <removed>"; the problem if it
// is neither.
std::optional<std::string> parse_header(std::string_view line, ParsedManifest& out,
                                        std::size_t* entries, std::size_t* removals) {
    auto header = fields_of(line, 4);
    if (header.size() == 2 && header[0] == "DSM1") {
        if (!parse_number(header[1], *entries)) return "bad entry count";
    } else if (header.size() == 4 && header[0] == "DSM1D") {
        out.is_delta = true;
        if (header[1].size() != kSha256HexChars || !is_lower_hex(header[1])) return "bad base etag";
        out.base_etag = std::string(header[1]);
        if (!parse_number(header[2], *entries) || !parse_number(header[3], *removals))
            return "bad counts";
    } else {
        return "unknown format or version";
    }
    return std::nullopt;
}

}  // namespace

ParsedManifest parse_manifest(std::string_view text, std::size_t max_entries) {
    ParsedManifest out;
    auto fail = [&](std::string why, std::size_t line_no) {
        out.error = "line " + std::to_string(line_no) + ": " + why;
        out.entries.clear();
        out.removed.clear();
        return out;
    };
    if (text.size() > kMaxManifestBytes) return fail("manifest too large", 0);
    if (text.empty() || text.back() != '\n') return fail("missing final newline", 0);

    std::size_t pos = text.find('\n');
    std::size_t entries = 0, removals = 0;
    if (auto problem = parse_header(text.substr(0, pos), out, &entries, &removals))
        return fail(*problem, 1);
    if (entries > max_entries || removals > max_entries)
        return fail("announces " + std::to_string(std::max(entries, removals)) +
                        " entries, more than the limit of " + std::to_string(max_entries) +
                        " (max-files)",
                    1);

    std::size_t line_no = 1;
    std::string previous;
    bool have_previous = false;
    std::size_t start = pos + 1;
    for (std::size_t i = 0; i < entries + removals; ++i) {
        ++line_no;
        if (start >= text.size()) return fail("fewer lines than announced", line_no);
        std::size_t end = text.find('\n', start);
        std::string_view line = text.substr(start, end - start);
        start = end + 1;
        auto f = fields_of(line, 7);
        if (i < entries) {
            if (f.size() < 6 || f.size() > 7) return fail("wrong field count", line_no);
            std::string path;
            Entry e;
            if (auto problem = parse_entry(f, path, e)) return fail(*problem, line_no);
            if (have_previous && !(previous < path))
                return fail("not sorted or duplicate", line_no);
            previous = path;
            have_previous = true;
            out.entries.emplace_hint(out.entries.end(), std::move(path), std::move(e));
        } else {
            if (i == entries) have_previous = false;
            if (f.size() != 2 || f[0] != "x") return fail("bad removal line", line_no);
            auto p = percent_decode(f[1]);
            if (!p || path_problem(*p)) return fail("bad removal path", line_no);
            if (have_previous && !(previous < *p)) return fail("not sorted or duplicate", line_no);
            previous = *p;
            have_previous = true;
            out.removed.push_back(std::move(*p));
        }
    }
    if (start != text.size()) return fail("trailing data", line_no + 1);
    if (!out.is_delta) {
        if (auto problem = manifest_problem(out.entries)) return fail(*problem, 0);
    }
    return out;
}

bool apply_changes(Manifest& base, const ParsedManifest& delta, std::string* error) {
    for (const auto& path : delta.removed) base.erase(path);
    for (const auto& [path, e] : delta.entries) base[path] = e;
    if (base.size() > kMaxManifestEntries) {
        if (error) *error = "too many entries";
        return false;
    }
    // `base` met the invariants before: only what the delta touched can break them. An entry
    // it adds or changes needs its parent as a directory; one it removes, or turns into a file
    // or link, must leave nothing below it. (The parser checked every path it carries.)
    auto fail = [&](const std::string& path, const char* why) {
        if (error) *error = path + ": " + why;
        return false;
    };
    auto has_children = [&](const std::string& path) {
        auto it = base.lower_bound(path + "/");
        return it != base.end() && it->first.compare(0, path.size() + 1, path + "/") == 0;
    };
    for (const auto& [path, e] : delta.entries) {
        if (auto problem = path_problem(path)) return fail(path, problem->c_str());
        std::string parent = parent_of(path);
        if (!parent.empty()) {
            auto it = base.find(parent);
            if (it == base.end() || it->second.type != EntryType::kDir)
                return fail(path, "parent is not a directory in the manifest");
        }
        if (e.type != EntryType::kDir && has_children(path))
            return fail(path, "entries below an entry that is not a directory");
    }
    for (const auto& path : delta.removed)
        if (!base.count(path) && has_children(path))
            return fail(path, "parent is not a directory in the manifest (removed)");
    return true;
}

}  // namespace docsync
