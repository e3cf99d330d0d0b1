// bylatency: members whose response-time estimate (latency_estimate.h) is within a few times
// the fastest member's share the traffic by least requests in flight per effective weight
// (which by Little's law also gives a somewhat slower member proportionally less); a member
// whose estimate rises far above the fastest is degraded and only probed, one request at a
// time, a quarter decay time after the previous one was answered, until its estimate comes back
// near the pack. Equal members therefore split as evenly as least-connections does, whatever the
// noise in their estimates; a slowed member's answers hardly reach the tail; a recovered one
// rejoins without a catch-up burst (nothing is owed for the time it was degraded). Eligibility,
// slow start and the adoption of new members are bytraffic's (member_bookkeeping.h). See
// latency_scheduler.cc for the invariant.
#pragma once

#include <cstddef>

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

// Degraded when the estimate is above this many times the fastest eligible member's...
constexpr double kDegradedAbove = 3.0;
// ...and back in the pack once it is at most this many times it (hysteresis: an estimate
// hovering near one threshold does not flip the member in and out).
constexpr double kRecoveredAtOrBelow = 2.0;
// ...and its own estimate is at most this part of the highest it had while degraded.
constexpr double kRecoveredFromPeak = 0.5;
// A degraded member gets a probe only with nothing in flight and once latency_decay /
// kProbesPerDecay has passed since its last probe and its last answer: its estimate stays
// current (never stale) at a cost of a handful of requests per second.
constexpr int kProbesPerDecay = 4;

// Degraded members and members awaiting a first answer are set aside only while they hold at
// most this part of the eligible weight; beyond it every eligible member competes by requests
// in flight (Envoy's max_ejection_percent guards against the same: when most of a pool looks
// bad at once, the pool or the measurement is the problem, and the rest would be overrun).
constexpr double kMostSetAside = 0.5;

class LatencyScheduler {
  public:
    // Returns the slot of the chosen member, or -1 if no member is eligible.
    static int pick(const SchedulerConfig& config, BalancerView view, const MemberInput* inputs,
                    std::size_t count, MonoNanos now);

    // A request routed to `slot` by a sticky session: counted, not in flight (its completion and
    // its latency are not reported to us).
    static void charge(const SchedulerConfig& config, BalancerView view, std::size_t slot,
                       MonoNanos now);
};

}  // namespace balancer_traffic
