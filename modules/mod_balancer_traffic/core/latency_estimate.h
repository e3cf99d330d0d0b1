// bylatency's per-member response-time estimate: an exponentially weighted moving average of the
// time to the first byte of the backend's response, with the time constant
// SchedulerConfig::latency_decay. Each sample is weighted by the time since the member's
// previous sample, not counted as one of n, so a burst of answers that arrive together (the
// requests a member held while it stalled) moves the estimate like one answer; and no answer
// weighs for more than 1/32 of the decay time, so a long silence does not hand one
// answer the whole estimate. A degraded member's answers are probes, each weighted as a whole
// decay time (latency_scheduler.h).
//
// There is no peak rule (Finagle's peak EWMA jumps to any higher sample): on a busy machine a
// single late answer would then make a healthy member look degraded. A member that really
// slows down is diverted at once anyway by its growing in-flight count, and its estimate
// crosses the degraded threshold within a few of its slow answers (latency_scheduler.h).
#pragma once

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

// A finished attempt on `st`: `sample_ns` from the pick to the response's first byte.
// `failed` (a 5xx, a timeout): such a sample may raise the estimate, never lower it, so a
// member that fails fast does not look fast.
void record_latency(const SchedulerConfig& config, MemberState& st, MonoNanos sample_ns,
                    MonoNanos now, bool failed);

inline bool has_latency(const MemberState& st) {
    return st.latency_at != 0;
}

// No answer for a decay time (or none ever): what the estimate says is no longer current.
inline bool is_stale(const SchedulerConfig& config, const MemberState& st, MonoNanos now) {
    return !has_latency(st) || now - st.latency_at > config.latency_decay.count();
}

}  // namespace balancer_traffic
