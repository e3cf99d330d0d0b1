// Whether the client of a connection has gone while its request waits (a long poll): a secondary
// restarting or a network glitch closes the connection right after sending. Nobody reads the
// socket during the wait, so httpd itself would only find out when the answer fails to go out;
// until then the wait holds a worker for nothing.
#pragma once

namespace docsync {

// True if the peer of the connected stream socket `fd` has closed or reset it, or shut down its
// sending side (an HTTP client does that only when it is done: the answer is sent at once
// anyway). Does not block and consumes nothing: bytes the client sent ahead (a pipelined
// request) stay in the socket and mean "still there".
bool client_gone(int fd);

}  // namespace docsync
