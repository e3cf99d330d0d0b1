// The slow-start ramp: a member that is new or usable again gets a weight that grows linearly
// from a tenth of its loadfactor to all of it over the configured duration (as Envoy and
// HAProxy ramp). Starting above zero keeps the member warm from the first second.
#pragma once

#include <algorithm>

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

constexpr double kSlowStartFloor = 0.1;

inline double slow_start_factor(const SchedulerConfig& config, MonoNanos usable_since,
                                MonoNanos now) {
    if (config.slow_start.count() <= 0) return 1.0;
    double elapsed =
        static_cast<double>(now - usable_since) / static_cast<double>(config.slow_start.count());
    return std::clamp(elapsed, kSlowStartFloor, 1.0);
}

inline double effective_weight(const SchedulerConfig& config, const MemberInput& in,
                               const MemberState& st, MonoNanos now) {
    return static_cast<double>(in.loadfactor) * slow_start_factor(config, st.usable_since, now);
}

}  // namespace balancer_traffic
