// What the status page shows per member, computed from the shared state.
#pragma once

#include <cstddef>
#include <cstdint>

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

struct MemberReport {
    double window_bytes = 0;     // decayed bytes (all-time bytes in cumulative mode)
    double window_requests = 0;  // decayed picks
    double byte_share = 0;       // of the balancer's window bytes
    double request_share = 0;    // of the balancer's window picks
    double target_share = 0;     // effective weight / total effective weight of eligible members
    double slow_start = 1;       // current ramp factor, 1 when fully up
    std::uint64_t picks_total = 0;
    std::uint64_t bytes_total = 0;
    std::uint32_t inflight = 0;
    bool eligible = false;
    // bylatency's estimate of time to first byte (0: no sample yet) and the age of its last
    // sample (latency_estimate.h).
    double latency_ns = 0;
    double latency_age_ns = -1;
};

// Fills out[0..count). Reads only; the caller holds the balancer's lock.
void report_members(const SchedulerConfig& config, BalancerView view, const MemberInput* inputs,
                    std::size_t count, MonoNanos now, MemberReport* out);

}  // namespace balancer_traffic
