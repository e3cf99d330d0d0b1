// A file descriptor owned by a C++ scope (the adapter files open sockets of several kinds).
#pragma once

#include <unistd.h>

namespace ha_heartbeat {

class UniqueFd {
  public:
    explicit UniqueFd(int fd = -1) : fd_(fd) {}
    ~UniqueFd() {
        if (fd_ >= 0) ::close(fd_);
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    int get() const { return fd_; }

  private:
    int fd_;
};

}  // namespace ha_heartbeat
