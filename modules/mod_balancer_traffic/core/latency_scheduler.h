// bylatency: send the next request to the eligible member with the least expected wait,
// (latency estimate) x (its requests in flight + 1) / (its effective weight), where the latency
// estimate is the peak EWMA of the time to first byte (latency_estimate.h). A member that slows
// down gets less traffic from its next answer on; one that recovers earns its share back within
// a few decay times. Eligibility, slow start and the adoption of new members are bytraffic's
// (member_bookkeeping.h). See latency_scheduler.cc for the invariant.
#pragma once

#include <cstddef>

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

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
