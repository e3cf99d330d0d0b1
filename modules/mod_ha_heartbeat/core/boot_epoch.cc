#include "boot_epoch.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace ha_heartbeat {
namespace {
constexpr std::size_t kMaxEpochFileBytes = 32;
}

suite::Parsed<std::uint64_t> next_boot_epoch(const std::string& path,
                                             std::uint64_t wall_clock_seconds) {
    suite::Parsed<std::uint64_t> out;
    std::uint64_t last = 0;
    const int in = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (in >= 0) {
        char buf[kMaxEpochFileBytes + 1] = {};
        const ssize_t n = ::read(in, buf, kMaxEpochFileBytes);
        ::close(in);
        if (n > 0) last = std::strtoull(buf, nullptr, 10);
    } else if (errno != ENOENT) {
        out.error = "cannot read '" + path + "': " + std::strerror(errno);
        return out;
    }
    const std::uint64_t epoch = std::max(last + 1, wall_clock_seconds);
    const std::string tmp = path + ".tmp";
    const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        out.error = "cannot write '" + tmp + "': " + std::strerror(errno);
        return out;
    }
    const std::string text = std::to_string(epoch) + "\n";
    const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) &&
                    ::fsync(fd) == 0;
    ::close(fd);
    if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
        out.error = "cannot store '" + path + "': " + std::strerror(errno);
        ::unlink(tmp.c_str());
        return out;
    }
    out.value = epoch;
    return out;
}

}  // namespace ha_heartbeat
