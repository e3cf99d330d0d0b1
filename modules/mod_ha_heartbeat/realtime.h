// Real-time scheduling and locked memory for the heartbeat process (HARealtime), as keepalived
// does for its VRRP process (vrrp_rt_priority, vrrp_no_swap): at 10 ms a heartbeat must not wait
// behind a busy CPU or a page read back from swap. Set while the process still runs as root,
// before it drops privileges, so no capability is kept for it. Round-robin at the configured
// priority, reset to normal in every process it starts (HANotify, HATrack). A loop that runs
// longer than kRealtimeBudget without sleeping (a datagram flood) is put back to normal
// scheduling rather than left to starve the CPU. No httpd headers.
#pragma once

#include <string>

namespace ha_heartbeat {

// priority 0: off. Returns what was set, for the log ("SCHED_RR 10, memory locked", or why not).
std::string enter_realtime(int priority);
// Call from the loop: true once, when the budget was exceeded and scheduling went back to
// normal.
bool realtime_overrun_handled();

}  // namespace ha_heartbeat
