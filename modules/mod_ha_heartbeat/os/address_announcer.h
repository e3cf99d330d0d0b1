// Telling the LAN that a service address moved here: gratuitous ARP for IPv4, unsolicited
// neighbour advertisement (override flag) for IPv6. No httpd headers.
#pragma once

#include <string>

#include "../core/ha_config.h"

namespace ha_heartbeat {

// Sends one announcement for `a` out of `ifindex`. Returns "" or the error text.
std::string announce_address(const ServiceAddress& a, int ifindex);

}  // namespace ha_heartbeat
