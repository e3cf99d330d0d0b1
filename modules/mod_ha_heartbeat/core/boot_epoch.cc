#include "boot_epoch.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <string>

namespace ha_heartbeat {
namespace {

constexpr std::size_t kMaxEpochFileBytes = 32;
constexpr mode_t kDirMode = 0700;
constexpr mode_t kFileMode = 0600;

class Fd {
  public:
    explicit Fd(int fd) : fd_(fd) {}
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    int get() const { return fd_; }
    // Closes now, reporting the error (a write-back error shows up here on some filesystems).
    bool close() {
        const int rc = ::close(fd_);
        fd_ = -1;
        return rc == 0;
    }

  private:
    int fd_;
};

template <class T>
suite::Parsed<T> fail(std::string why) {
    suite::Parsed<T> p;
    p.error = std::move(why);
    return p;
}

std::string directory_of(const std::string& path) {
    const auto slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// "<digits>\n" or "<digits>"; anything else is refused.
bool parse_epoch(const char* text, std::size_t n, std::uint64_t* out) {
    while (n > 0 && (text[n - 1] == '\n' || text[n - 1] == '\r')) --n;
    if (n == 0) return false;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) {
        if (text[i] < '0' || text[i] > '9') return false;
        const std::uint64_t digit = static_cast<std::uint64_t>(text[i] - '0');
        if (v > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return false;
        v = v * 10 + digit;
    }
    *out = v;
    return true;
}

}  // namespace

suite::Parsed<std::uint64_t> next_boot_epoch(const std::string& path,
                                             std::uint64_t wall_clock_seconds) {
    const std::string dir = directory_of(path);
    if (::mkdir(dir.c_str(), kDirMode) != 0 && errno != EEXIST)
        return fail<std::uint64_t>("cannot create '" + dir + "': " + std::strerror(errno));
    std::uint64_t last = 0;
    bool have_last = false;
    {
        Fd in(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
        if (in.get() >= 0) {
            char buf[kMaxEpochFileBytes + 1] = {};
            const ssize_t n = ::read(in.get(), buf, kMaxEpochFileBytes + 1);
            if (n < 0 || static_cast<std::size_t>(n) > kMaxEpochFileBytes ||
                !parse_epoch(buf, static_cast<std::size_t>(n), &last))
                return fail<std::uint64_t>("'" + path +
                                           "' does not hold an epoch; remove it to start afresh");
            have_last = true;
        } else if (errno != ENOENT) {
            return fail<std::uint64_t>("cannot read '" + path + "': " + std::strerror(errno));
        }
    }
    if (have_last && last == std::numeric_limits<std::uint64_t>::max())
        return fail<std::uint64_t>("'" + path + "' holds the largest epoch; remove it");
    const std::uint64_t epoch = std::max(have_last ? last + 1 : 0, wall_clock_seconds);
    // A name of our own (pid): two processes starting at once never share a temporary file, and
    // O_EXCL|O_NOFOLLOW refuses anything planted there, link or file.
    const std::string tmp = path + ".tmp." + std::to_string(::getpid());
    constexpr int kCreate = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;
    int fd = ::open(tmp.c_str(), kCreate, kFileMode);
    if (fd < 0 && errno == EEXIST) {
        // Left by a crash of an earlier process with our pid, or planted: unlink removes the
        // name itself (a link is not followed), then the exclusive create is tried once more.
        ::unlink(tmp.c_str());
        fd = ::open(tmp.c_str(), kCreate, kFileMode);
    }
    Fd out(fd);
    if (out.get() < 0)
        return fail<std::uint64_t>("cannot create '" + tmp + "': " + std::strerror(errno));
    const std::string text = std::to_string(epoch) + "\n";
    const bool written =
        ::write(out.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
        ::fsync(out.get()) == 0 && out.close();
    const int write_errno = errno;
    if (!written || ::rename(tmp.c_str(), path.c_str()) != 0) {
        const int err = written ? errno : write_errno;
        ::unlink(tmp.c_str());
        return fail<std::uint64_t>("cannot store '" + path + "': " + std::strerror(err));
    }
    // The rename is durable only once the directory is.
    Fd d(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (d.get() < 0 || ::fsync(d.get()) != 0)
        return fail<std::uint64_t>("cannot sync '" + dir + "': " + std::strerror(errno));
    suite::Parsed<std::uint64_t> p;
    p.value = epoch;
    return p;
}

}  // namespace ha_heartbeat
