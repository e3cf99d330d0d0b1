// The request-serving child's part of a drain for kept-alive connections that send nothing
// (core/quiet_connections.h): hooks that follow each HTTP/1 connection on a service address,
// and one thread per child that, while the heartbeat process drains, shuts down for writing
// (FIN) those that have been quiet long enough, so they end cleanly before the address moves.
#pragma once

namespace ha_heartbeat {

void register_quiet_connection_hooks();

}  // namespace ha_heartbeat
