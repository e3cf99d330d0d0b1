// The typed, validated form of the mod_balancer_traffic directives for one balancer.
#pragma once

#include <chrono>

namespace balancer_traffic {

using std::chrono::nanoseconds;

// Ten seconds of memory: long enough that one large response does not swing the split, short
// enough that what happened a minute ago no longer decides today's picks.
constexpr nanoseconds kDefaultTrafficWindow = std::chrono::seconds(10);

// bylatency: half a second of memory for response times. A member that recovers is back at
// its share within about four time constants (two seconds), and one slow answer is forgotten
// as fast; much longer and a recovered member waits, much shorter and single samples rule.
constexpr nanoseconds kDefaultLatencyDecay = std::chrono::milliseconds(500);

struct SchedulerConfig {
    // Time constant of the exponential decay of per-member traffic. Zero means no decay: the
    // stock mod_lbmethod_bytraffic behaviour of comparing all-time totals.
    nanoseconds window = kDefaultTrafficWindow;
    // Length of the linear weight ramp for a member that is new or became usable again.
    // Zero disables the ramp (the member still starts level with its peers: no flood).
    nanoseconds slow_start{0};
    // bylatency: time constant of the latency estimate (latency_estimate.h). Never zero.
    nanoseconds latency_decay = kDefaultLatencyDecay;

    bool cumulative() const { return window.count() == 0; }
};

}  // namespace balancer_traffic
