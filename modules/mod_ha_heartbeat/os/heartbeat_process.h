// The heartbeat loop, run in its own process: sends a heartbeat every interval, receives and
// authenticates peers' heartbeats, runs the election, takes and releases the service addresses,
// runs HANotify/HATrack and publishes everything on the status board. Ends on SIGTERM with a
// resign (priority 0) so a backup takes over at once. No httpd headers: the glue forks it and
// passes a log function.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>

#include "../core/ha_config.h"
#include "../core/status_board.h"
#include "child_commands.h"

namespace ha_heartbeat {

struct ProcessIdentity {
    bool drop_privileges = false;  // switch to uid/gid keeping CAP_NET_ADMIN and CAP_NET_RAW
    uid_t uid = 0;
    gid_t gid = 0;
};

// "" while healthy, else what is wrong (HATrackBalancers); may be empty.
using HealthCheck = std::function<std::string()>;

// The longest a planned stop takes in the heartbeat process: drain, wait for the successor,
// linger, release.
std::chrono::nanoseconds planned_stop_bound(const HaConfig& config);

// Returns the process exit status.
int run_heartbeat_process(const HaConfig& config, StatusBoard* board,
                          const ProcessIdentity& identity, const LogFn& log,
                          const HealthCheck& balancers);

}  // namespace ha_heartbeat
