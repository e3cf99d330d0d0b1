// bylatency's per-member response-time estimate: an exponentially weighted moving average of the
// time to the first byte of the backend's response, with the time constant
// SchedulerConfig::latency_decay. Each sample is weighted by the time since the member's
// previous sample, not counted as one of n, so a burst of answers that arrive together (the
// requests a member held while it stalled) moves the estimate like one answer; and no answer
// weighs for more than 1/32 of the decay time, so a long silence does not hand one
// answer the whole estimate. A degraded member's answers are probes, each weighted as a whole
// decay time (latency_scheduler.h).
//
// There is no peak rule on answers (Finagle's peak EWMA jumps to any higher sample): on a busy
// machine a single late answer would then make a healthy member look degraded. What reacts at
// once is the time the member has kept its requests waiting (waiting_for() below, the pending
// time of Finagle's and Linkerd's balancers): from its onset, a member that stops answering is
// as slow as its oldest request is old, and is degraded before its first slow answer comes
// back; whether it stalled or really slowed down, its first probe tells (latency_scheduler.h).
#pragma once

#include <algorithm>

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

// A finished attempt on `st`: `sample_ns` from the pick (at now - sample_ns) to the response's
// first byte. `failed` (a 5xx, a timeout): such a sample may raise the estimate, never lower
// it, so a member that fails fast does not look fast. The answer to a request picked since the
// member was degraded (at or after probe_at) is kept as probe_sample_ns; a probe's (the pick at
// probe_at) counts for a whole decay time.
void record_latency(const SchedulerConfig& config, MemberState& st, MonoNanos sample_ns,
                    MonoNanos now, bool failed);

// A pick that awaited its first byte ended without one (the request was over first): it no
// longer waits, and gives no sample.
void forget_awaiting(MemberState& st, MonoNanos now);

// A request picked for the member (bylatency counts it as waiting for its first byte).
inline void note_awaiting(MemberState& st, MonoNanos now) {
    if (st.awaiting++ == 0) st.awaiting_since = now;
}

inline bool has_latency(const MemberState& st) {
    return st.latency_at != 0;
}

// How long the member has kept a request waiting without answering any: the time since the
// later of its last answer and the moment it last had nothing waiting. A lower bound on the
// age of its oldest waiting request (that request was picked before both), 0 if none waits.
inline MonoNanos waiting_for(const MemberState& st, MonoNanos now) {
    if (st.awaiting == 0) return 0;
    return std::max<MonoNanos>(0, now - std::max(st.latency_at, st.awaiting_since));
}

// What the member's response time is now: its estimate, or longer if it has kept a request
// waiting longer than that.
inline double current_latency(const MemberState& st, MonoNanos now) {
    return std::max(st.latency_ns, static_cast<double>(waiting_for(st, now)));
}

// What the member says of the pack's speed now: its current response time, or its last answer
// if that was slower (latency_scheduler.cc: when the whole pack slows down, its first slow
// answers show it before the estimates follow).
inline double reference_latency(const MemberState& st, MonoNanos now) {
    return std::max(current_latency(st, now), st.last_sample_ns);
}

// No answer for a decay time (or none ever): what the estimate says is no longer current.
inline bool is_stale(const SchedulerConfig& config, const MemberState& st, MonoNanos now) {
    return !has_latency(st) || now - st.latency_at > config.latency_decay.count();
}

}  // namespace balancer_traffic
