// Which kept-alive connections on the service addresses a draining node closes itself. A drain
// tells every client that sends a request "Connection: close" (core/drain_policy.h), but a
// kept-alive connection that sends nothing during the drain would stay open, and after the
// address moves its next request would reach the successor, which resets it. So the node closes
// such a connection itself (a FIN from the old master, which the client reads as the end of the
// connection and opens a new one) once it has been quiet — its last answer fully written, no
// request begun since — for `quiet_before_close`. Closing a connection whose client is just
// sending its next request would lose that request (the keep-alive race every server closing an
// idle connection has); the quiet period keeps a busy client (whose next request follows its
// answer within milliseconds) out of it. Pure bookkeeping, no OS calls: the caller
// (quiet_connection_closer.cpp) shuts down the descriptors it is handed.
#pragma once

#include <cstdint>
#include <unordered_map>
#include <vector>

#include "ha_types.h"

namespace ha_heartbeat {

class QuietConnections {
  public:
    using Id = std::uint64_t;

    // A connection on a service address. It is not quiet until its first answer has been
    // written: a connection that has not yet sent a request may be one whose protocol this
    // module does not follow (HTTP/2 never reaches answered()).
    Id add(int fd);
    void remove(Id id);
    // A request on it has begun (its first bytes were read).
    void request_begun(Id id);
    // Its answer has been written in full and the connection stays open for the next request.
    void answered(Id id, nanoseconds now);

    struct Candidate {
        Id id;
        int fd;
    };
    // The connections quiet for at least `quiet_before_close` at `now` and not yet closed. The
    // caller looks at each socket once more (a request may have arrived that the server has not
    // begun to read) and reports those it shut down with closed().
    std::vector<Candidate> quiet(nanoseconds now, nanoseconds quiet_before_close) const;
    void closed(Id id);

    std::size_t size() const { return connections_.size(); }

  private:
    struct Connection {
        int fd;
        bool quiet = false;  // answered, and no request begun since
        bool closed = false;
        nanoseconds quiet_since{0};
    };
    std::unordered_map<Id, Connection> connections_;
    Id next_id_ = 1;
};

}  // namespace ha_heartbeat
