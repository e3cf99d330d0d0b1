#include "latency_scheduler.h"

#include <algorithm>
#include <limits>

#include "forward_decay.h"
#include "latency_estimate.h"
#include "member_bookkeeping.h"

namespace balancer_traffic {
namespace {

// A member whose estimate is stale (no answer for a decay time, or none ever) is being probed:
// while one request to it is out, further picks see it this many times as loaded. It gets one
// request at a time until an answer says how fast it is, unless every member is in that state.
constexpr double kProbePenalty = 1000.0;

// Peers whose median seeds a member entering without a current estimate (a bounded buffer on
// the stack: the first ones are a fair sample).
constexpr std::size_t kSeedPeers = 64;

bool is_stale(const SchedulerConfig& config, const MemberState& st, MonoNanos now) {
    return !has_latency(st) || now - st.latency_at > config.latency_decay.count();
}

// A member entering the eligible set (new, back from an error, re-enabled, a tier change)
// without a current estimate of its own starts at the median of its established peers: neither
// the fastest (that would draw a burst while its first answers are out) nor shunned.
void seed_entering(const SchedulerConfig& config, BalancerView view, std::size_t count,
                   MonoNanos now) {
    double peers[kSeedPeers];
    std::size_t n = 0;
    for (std::size_t i = 0; i < count && n < kSeedPeers; ++i) {
        const MemberState& st = view.members[i];
        if (is_candidate(st) && !is_entering(st) && has_latency(st))
            peers[n++] = decayed_latency(config, *view.header, st, now);
    }
    if (n == 0) return;  // nobody knows anything yet: all start unsampled, alike
    std::nth_element(peers, peers + n / 2, peers + n);
    const double median = peers[n / 2];
    for (std::size_t i = 0; i < count; ++i) {
        MemberState& st = view.members[i];
        if (is_entering(st) && is_stale(config, st, now))
            seed_latency(config, *view.header, st, median, now);
    }
}

// The least stored estimate among eligible members answered within a decay time: no member
// is compared as faster than the fastest one known now, so an estimate that decayed while its
// member was idle (or was never taken) draws its member's fair part, not a flood. Without any
// current estimate the largest known one stands in, and without any at all a constant: the
// pick is then least in flight per weight.
double probe_floor(const SchedulerConfig& config, BalancerView view, std::size_t count,
                   MonoNanos now) {
    double fresh = std::numeric_limits<double>::infinity(), known = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const MemberState& st = view.members[i];
        if (!is_candidate(st) || !has_latency(st)) continue;
        known = std::max(known, st.scaled_latency);
        if (!is_stale(config, st, now)) fresh = std::min(fresh, st.scaled_latency);
    }
    if (fresh != std::numeric_limits<double>::infinity()) return fresh;
    return known > 0 ? known : 1.0;
}

void record_pick(BalancerView view, std::size_t slot, double scale, bool in_flight) {
    MemberState& st = view.members[slot];
    st.scaled_requests += scale;
    if (in_flight) st.inflight += 1;
    st.picks_total += 1;
    view.header->picks_total += 1;
}

}  // namespace

// Invariant: among eligible members, the one chosen has the least
// max(estimate, floor) x (in flight + 1) / effective weight, estimates forward-decayed toward
// zero since their last sample (one factor for all, so stored numbers compare directly), the
// floor being the fastest current estimate. Each pick raises the chosen member's in-flight
// count, so concurrent picks spread in inverse proportion to expected wait; a stale member
// holding a probe is skipped while anyone else can take the request.
int LatencyScheduler::pick(const SchedulerConfig& config, BalancerView view,
                           const MemberInput* inputs, std::size_t count, MonoNanos now) {
    rebase_latency(config, view, now);
    RefreshResult refreshed = begin_pick(config, view, inputs, count, now);
    if (refreshed.candidate_set_changed) seed_entering(config, view, count, now);
    const double floor = probe_floor(config, view, count, now);
    int best = -1;
    double best_wait = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < count; ++i) {
        MemberState& st = view.members[i];
        const bool candidate = is_candidate(st);
        st.flags = candidate ? (st.flags | kWasCandidate) : (st.flags & ~kWasCandidate);
        if (!candidate) continue;
        double wait = std::max(st.scaled_latency, floor) * (st.inflight + 1) / st.weight_seen;
        if (st.inflight > 0 && is_stale(config, st, now)) wait *= kProbePenalty;
        if (wait < best_wait) {
            best_wait = wait;
            best = static_cast<int>(i);
        }
    }
    if (best >= 0)
        record_pick(view, static_cast<std::size_t>(best), decay_scale(config, *view.header, now),
                    true);
    return best;
}

void LatencyScheduler::charge(const SchedulerConfig& config, BalancerView view, std::size_t slot,
                              MonoNanos now) {
    record_pick(view, slot, decay_scale(config, *view.header, now), false);
}

}  // namespace balancer_traffic
