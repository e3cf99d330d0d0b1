// byrequests: smooth weighted round robin (as nginx's upstream round robin) over the eligible
// members, with the slow-start ramp applied to the weights.
#pragma once

#include <cstddef>

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

class RequestScheduler {
  public:
    // Returns the slot of the chosen member, or -1 if no member is eligible.
    static int pick(const SchedulerConfig& config, BalancerView view, const MemberInput* inputs,
                    std::size_t count, MonoNanos now);

    // A request routed to `slot` by a sticky session counts as that member's turn.
    static void charge(const SchedulerConfig& config, BalancerView view, const MemberInput* inputs,
                       std::size_t slot, std::size_t count, MonoNanos now);
};

}  // namespace balancer_traffic
