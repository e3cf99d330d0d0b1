// Real-time scheduling and locked memory for the heartbeat process (HARealtime), as keepalived
// does for its VRRP process (vrrp_rt_priority, vrrp_no_swap): at 10 ms a heartbeat must not wait
// behind a busy CPU or a page read back from swap. Set while the process still runs as root,
// before it drops privileges, so no capability is kept for it. Round-robin at the configured
// priority, reset to normal in every process it starts (HANotify, HATrack). A loop that runs
// longer than kRealtimeBudget without sleeping (a datagram flood) is put back to normal
// scheduling rather than left to starve the CPU. No httpd headers.
#pragma once

#include <string>
#include <vector>

namespace ha_heartbeat {

// priority 0: off. Returns what was set, for the log ("SCHED_RR 10, memory locked", or why not).
std::string enter_realtime(int priority);
// The CPUs this thread may run on, in order.
std::vector<int> allowed_cpus();
// Pins the calling thread to `cpu`. With real time on and two CPUs or more, the main loop and
// the repeat sender are pinned to two different ones: a hypervisor that stops one virtual CPU
// for tens of milliseconds (measured here: up to 9 ms routinely) then holds up one of the two
// senders, not both, so heartbeats keep going out on time. Left alone with one CPU.
bool pin_to_cpu(int cpu);
// Call from the loop: true once, when the budget was exceeded and scheduling went back to
// normal.
bool realtime_overrun_handled();

}  // namespace ha_heartbeat
