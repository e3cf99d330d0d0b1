#include "manifest_version.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>

#include "crypto.h"
#include "path_policy.h"
#include "safe_fs.h"

namespace docsync {

namespace {
constexpr std::string_view kMagic = "docsync-version 1";
constexpr std::size_t kMaxStateBytes = 16 * 1024;

bool parse_i64(std::string_view s, std::int64_t* out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
    return !s.empty() && s.size() <= 20 && r.ec == std::errc() && r.ptr == s.data() + s.size() &&
           *out > 0;
}
}  // namespace

std::string source_state_dir_for(const std::string& local_dir) {
    std::string parent = parent_of(local_dir);
    return parent + "/" + std::string(kStatePrefix) + std::string(base_name(local_dir));
}

std::string version_state_path_for(const std::string& local_dir) {
    return source_state_dir_for(local_dir) + "/version";
}

bool VersionStore::load(std::string* error) {
    highest_ = 0;
    UniqueFd fd(::open(path_.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) {
        if (errno == ENOENT) return true;
        *error = path_ + ": " + errno_text(errno);
        return false;
    }
    std::string text(kMaxStateBytes + 1, '\0');
    ssize_t n = ::read(fd.get(), text.data(), text.size());
    if (n < 0 || static_cast<std::size_t>(n) > kMaxStateBytes) {
        *error = path_ + ": unreadable or too large";
        return false;
    }
    text.resize(static_cast<std::size_t>(n));
    // "<magic>\n<url>\n<version>\n"
    std::size_t a = text.find('\n');
    std::size_t b = a == std::string::npos ? a : text.find('\n', a + 1);
    std::size_t c = b == std::string::npos ? b : text.find('\n', b + 1);
    std::int64_t v = 0;
    if (c == std::string::npos || std::string_view(text).substr(0, a) != kMagic ||
        !parse_i64(std::string_view(text).substr(b + 1, c - b - 1), &v)) {
        *error = path_ + ": not a docsync version file";
        return false;
    }
    if (text.substr(a + 1, b - a - 1) == url_) highest_ = v;
    return true;
}

VersionVerdict VersionStore::judge(std::string_view header, std::int64_t* version) const {
    if (!parse_i64(header, version)) {
        *version = 0;
        return VersionVerdict::kMissing;
    }
    return *version < highest_ ? VersionVerdict::kOlder : VersionVerdict::kAcceptable;
}

bool VersionStore::accept(std::int64_t version, std::string* error) {
    if (version <= highest_) return true;
    std::string text = std::string(kMagic) + "\n" + url_ + "\n" + std::to_string(version) + "\n";
    std::string tmp = path_ + ".tmp-" + random_hex(6);
    UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    bool ok = fd &&
              ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
              ::fsync(fd.get()) == 0;
    int saved = errno;
    fd.reset();
    if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) {
        if (ok) saved = errno;
        ::unlink(tmp.c_str());
        *error = path_ + ": " + errno_text(saved);
        return false;
    }
    highest_ = version;
    return true;
}

}  // namespace docsync
