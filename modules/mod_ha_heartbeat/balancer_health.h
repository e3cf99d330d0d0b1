// HATrackBalancers: whether every mod_proxy_balancer balancer of this server still has a usable
// member. Read from the members' shared status, which the request-serving children update
// (errors, health checks, balancer-manager), so the heartbeat process sees it without asking
// anyone.
#pragma once

#include <httpd.h>

#include <functional>
#include <string>

namespace ha_heartbeat {

// Returns a check to run in the heartbeat process: "" while every balancer has a usable member,
// else which ones have none. When mod_proxy is not loaded the check always passes.
std::function<std::string()> balancer_check(server_rec* s);

}  // namespace ha_heartbeat
