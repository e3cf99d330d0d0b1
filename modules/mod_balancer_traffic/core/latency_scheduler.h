// bylatency: members whose current response time (latency_estimate.h: the estimate, or how
// long the member has kept a request waiting if that is longer) is within a few times the
// fastest member's share the traffic by least requests in flight per effective weight (which
// by Little's law also gives a somewhat slower member proportionally less); a member whose
// current response time rises far above the fastest is degraded and only probed, one request
// at a time, until a probe comes back fast and its estimate is near the pack again. A member
// that stops answering is thus degraded before its first slow answer, with what it already
// holds; its first probe goes out as soon as those are answered, and the next ones ever more
// sparingly while they come back slow (each costs a client its latency). Equal members
// therefore split as evenly as least-connections does, whatever the noise in their estimates;
// a slowed member's answers hardly reach the tail; a recovered one rejoins without a catch-up
// burst (nothing is owed for the time it was degraded). Eligibility, slow start and the
// adoption of new members are bytraffic's (member_bookkeeping.h). See latency_scheduler.cc for
// the invariant.
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
// A degraded member gets a probe only with nothing in flight. The first goes out at once, and
// so does the next after one that came back fast (a stall is over after a round trip); after a
// slow one, the next waits kProbeSpacing times the member's estimate since its last probe and
// its last answer, within latency_decay / kProbesPerDecay and kLongestProbeGap decay times: a
// member 10x slower than its peers costs the clients one slow request every ~9 of its
// latencies, and a recovered one is seen within kLongestProbeGap decay times.
constexpr int kProbesPerDecay = 4;
constexpr double kProbeSpacing = 8.0;
constexpr int kLongestProbeGap = 2;

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
