#include "quiet_connections.h"

namespace ha_heartbeat {

QuietConnections::Id QuietConnections::add(int fd) {
    const Id id = next_id_++;
    connections_.emplace(id, Connection{fd});
    return id;
}

void QuietConnections::remove(Id id) {
    connections_.erase(id);
}

void QuietConnections::request_begun(Id id) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second.quiet = false;
}

void QuietConnections::answered(Id id, nanoseconds now) {
    auto it = connections_.find(id);
    if (it == connections_.end()) return;
    it->second.quiet = true;
    it->second.quiet_since = now;
}

std::vector<QuietConnections::Candidate> QuietConnections::quiet(
    nanoseconds now, nanoseconds quiet_before_close) const {
    std::vector<Candidate> out;
    for (const auto& [id, c] : connections_)
        if (!c.closed && c.quiet && now - c.quiet_since >= quiet_before_close)
            out.push_back({id, c.fd});
    return out;
}

void QuietConnections::closed(Id id) {
    auto it = connections_.find(id);
    if (it != connections_.end()) it->second.closed = true;
}

}  // namespace ha_heartbeat
