// Counts the TCP connections to the service addresses that a move of the addresses would break,
// from the text of /proc/net/tcp or /proc/net/tcp6 (the kernel's table for the reader's network
// namespace). Pure parsing, so it is unit-tested on fixed text.
#pragma once

#include <string_view>
#include <vector>

#include "ha_config.h"

namespace ha_heartbeat {

// Connections whose local address is one of `addresses` (any port) and that still carry data or
// wait for an acknowledgement the peer must send to this host: ESTABLISHED, SYN_RECV,
// FIN_WAIT1, CLOSE_WAIT, LAST_ACK, CLOSING. Not counted: LISTEN, and FIN_WAIT2 / TIME_WAIT,
// where the peer has acknowledged everything this host sent (a reset from the successor then
// reaches a client that already has its whole answer), and connections whose data has gone
// unacknowledged for 3 retransmissions (the peer is gone). `family` is AF_INET for /proc/net/tcp,
// AF_INET6 for tcp6. Lines that do not parse are skipped. Returns -1 if `table` has no header.
int count_open_connections(std::string_view table, int family,
                           const std::vector<IpAddress>& addresses);

}  // namespace ha_heartbeat
