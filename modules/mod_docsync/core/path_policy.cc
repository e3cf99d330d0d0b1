#include "path_policy.h"

#include <fnmatch.h>

#include <vector>

namespace docsync {

std::optional<std::string> path_problem(std::string_view path) {
    if (path.empty()) return "empty path";
    if (path.size() > kMaxPathBytes) return "path longer than " + std::to_string(kMaxPathBytes);
    if (path.front() == '/') return "absolute path";
    std::size_t depth = 0;
    std::size_t start = 0;
    while (start <= path.size()) {
        std::size_t end = path.find('/', start);
        if (end == std::string_view::npos) end = path.size();
        std::string_view comp = path.substr(start, end - start);
        if (comp.empty()) return "empty component";
        if (comp == "." || comp == "..") return "dot component";
        if (comp.size() > kMaxComponentBytes) return "component longer than 255 bytes";
        if (comp.substr(0, kTempPrefix.size()) == kTempPrefix) return "reserved temp name";
        if (is_sync_private_name(comp)) return "reserved staging or state name";
        for (char c : comp) {
            auto u = static_cast<unsigned char>(c);
            if (u < 0x20 || u == 0x7f) return "control character";
        }
        if (++depth > kMaxPathDepth) return "too deep";
        start = end + 1;
    }
    return std::nullopt;
}

bool is_safe_symlink_target(std::string_view link_path, std::string_view target) {
    if (target.empty() || target.size() > kMaxSymlinkTargetBytes) return false;
    if (target.front() == '/') return false;
    if (target.find('\0') != std::string_view::npos) return false;
    // Room to climb: the number of directories between the root and the link.
    long room = 0;
    for (char c : link_path)
        if (c == '/') ++room;
    bool descending = false;  // a component other than ".." (or "." / "") has been seen
    std::size_t start = 0;
    while (start <= target.size()) {
        std::size_t end = target.find('/', start);
        if (end == std::string_view::npos) end = target.size();
        std::string_view comp = target.substr(start, end - start);
        if (comp == "..") {
            if (descending) return false;  // not leading: its meaning depends on other links
            if (--room < 0) return false;
        } else if (!comp.empty() && comp != ".") {
            descending = true;
        }
        start = end + 1;
    }
    return true;
}

std::string percent_encode(std::string_view raw) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(raw.size());
    for (char c : raw) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f || c == '%') {
            out += '%';
            out += digits[u >> 4];
            out += digits[u & 0xf];
        } else {
            out += c;
        }
    }
    return out;
}

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}
}  // namespace

std::optional<std::string> percent_decode(std::string_view encoded) {
    std::string out;
    out.reserve(encoded.size());
    for (std::size_t i = 0; i < encoded.size(); ++i) {
        auto u = static_cast<unsigned char>(encoded[i]);
        if (u <= 0x20 || u >= 0x7f) return std::nullopt;
        if (encoded[i] != '%') {
            out += encoded[i];
            continue;
        }
        if (i + 2 >= encoded.size()) return std::nullopt;
        int hi = hex_value(encoded[i + 1]);
        int lo = hex_value(encoded[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

std::string url_encode(std::string_view raw) {
    static const char digits[] = "0123456789ABCDEF";
    std::string out;
    for (char c : raw) {
        auto u = static_cast<unsigned char>(c);
        bool keep = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') || (u >= '0' && u <= '9') ||
                    c == '-' || c == '_' || c == '.' || c == '~' || c == '/';
        if (keep) {
            out += c;
        } else {
            out += '%';
            out += digits[u >> 4];
            out += digits[u & 0xf];
        }
    }
    return out;
}

std::string parent_of(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? std::string() : std::string(path.substr(0, slash));
}

std::string_view base_name(std::string_view path) {
    auto slash = path.rfind('/');
    return slash == std::string_view::npos ? path : path.substr(slash + 1);
}

bool glob_excludes(std::string_view glob, std::string_view path) {
    std::string g(glob), p(path), b(base_name(path));
    if (fnmatch(g.c_str(), p.c_str(), FNM_PATHNAME) == 0) return true;
    if (fnmatch(g.c_str(), b.c_str(), 0) == 0) return true;
    // A glob that matches a directory excludes everything below it.
    for (std::size_t pos = p.find('/'); pos != std::string::npos; pos = p.find('/', pos + 1)) {
        std::string prefix = p.substr(0, pos);
        if (fnmatch(g.c_str(), prefix.c_str(), FNM_PATHNAME) == 0) return true;
        if (fnmatch(g.c_str(), std::string(base_name(prefix)).c_str(), 0) == 0) return true;
    }
    return false;
}

}  // namespace docsync
