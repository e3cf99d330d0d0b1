// bylatency's per-member response-time estimate: a peak-sensitive exponentially weighted
// moving average of the time to the first byte of the backend's response ("peak EWMA", as in
// Finagle and Linkerd). A sample more than twice the estimate replaces it at once (a slowdown);
// any other sample is averaged in with the time constant SchedulerConfig::latency_decay,
// weighted by the time since the previous sample (not by the number of samples), so a member
// that gets few requests learns as fast per second as a busy one. Finagle's peak rule takes
// every sample above the estimate; on a busy machine that sets each healthy member to its
// worst recent answer and blurs the difference to one that really slowed down.
//
// Between samples the estimate the pick compares also decays toward zero with the same time
// constant, so a member that stopped getting requests because it was slow is tried again after
// a while instead of being shunned for ever. That decay is forward decay (forward_decay.h): the
// stored number is estimate * exp((t_sample - origin) / decay), one factor for every member, so
// the pick compares stored numbers and needs no exp().
#pragma once

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

// A finished attempt on `st`: `sample_ns` from the pick to the response's first byte.
// `failed` (a 5xx, a timeout): such a sample may raise the estimate, never lower it, so a
// member that fails fast does not look fast.
void record_latency(const SchedulerConfig& config, BalancerHeader& header, MemberState& st,
                    MonoNanos sample_ns, MonoNanos now, bool failed);

// Sets the member's estimate to `estimate_ns` as if sampled at `now` (a member entering with
// no samples of its own starts where its peers are).
void seed_latency(const SchedulerConfig& config, const BalancerHeader& header, MemberState& st,
                  double estimate_ns, MonoNanos now);

// The estimate decayed to `now`, in nanoseconds (0: never sampled).
double decayed_latency(const SchedulerConfig& config, const BalancerHeader& header,
                       const MemberState& st, MonoNanos now);

inline bool has_latency(const MemberState& st) {
    return st.latency_at != 0;
}

// Folds the accumulated decay into every member's stored estimate before the factor grows
// large (called at the start of a pick; cheap when nothing is due).
void rebase_latency(const SchedulerConfig& config, BalancerView view, MonoNanos now);

}  // namespace balancer_traffic
