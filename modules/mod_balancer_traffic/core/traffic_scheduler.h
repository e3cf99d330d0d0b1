// bytraffic: send the next request to the eligible member with the least traffic per unit of
// weight, where traffic is bytes both ways over a decaying window plus a charge for requests
// still in flight. See traffic_scheduler.cc for the invariants.
#pragma once

#include <cstddef>

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

class TrafficScheduler {
  public:
    // Returns the slot of the chosen member, or -1 if no member is eligible.
    static int pick(const SchedulerConfig& config, BalancerView view, const MemberInput* inputs,
                    std::size_t count, MonoNanos now);

    // A request was sent to `slot`. Picks are charged as in flight until complete_request();
    // requests routed by a sticky session, whose completion is not reported, only count.
    static void charge(const SchedulerConfig& config, BalancerView view, std::size_t slot,
                       std::size_t count, MonoNanos now, bool in_flight);
};

}  // namespace balancer_traffic
