#include "client_gone.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

namespace docsync {

bool client_gone(int fd) {
    if (fd < 0) return false;
    pollfd p{fd, POLLIN | POLLRDHUP, 0};
    int n;
    do {
        n = ::poll(&p, 1, 0);
    } while (n < 0 && errno == EINTR);
    if (n <= 0) return false;
    if (p.revents & (POLLRDHUP | POLLHUP | POLLERR)) return true;
    if (!(p.revents & POLLIN)) return false;
    // Readable without a hang-up flag: data waiting, or end of stream on a socket type that
    // does not report POLLRDHUP. A zero-length peek tells them apart.
    char byte;
    ssize_t k;
    do {
        k = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    } while (k < 0 && errno == EINTR);
    if (k == 0) return true;
    return k < 0 && errno != EAGAIN && errno != EWOULDBLOCK;
}

}  // namespace docsync
