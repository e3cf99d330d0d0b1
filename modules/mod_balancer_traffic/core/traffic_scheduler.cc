#include "traffic_scheduler.h"

#include <algorithm>
#include <limits>

#include "forward_decay.h"
#include "member_bookkeeping.h"
#include "slow_start.h"

namespace balancer_traffic {
namespace {

// With no history at all, a request is charged one byte: enough for a burst of first requests
// to spread by weight instead of all landing on the first member.
constexpr double kFallbackChargeBytes = 1.0;

double load_of(const MemberState& st) {
    return (st.scaled_bytes + st.scaled_pending) / st.weight_seen;
}

// Mean bytes per request over the eligible members: the charge for a member with no history.
double group_mean_bytes(BalancerView view, std::size_t count) {
    double bytes = 0, requests = 0;
    for (std::size_t i = 0; i < count; ++i)
        if (is_candidate(view.members[i])) {
            bytes += view.members[i].scaled_bytes;
            requests += view.members[i].scaled_requests;
        }
    return requests > 0 && bytes > 0 ? bytes / requests : 0;
}

// A member entering the eligible set (new, recovered, re-enabled, or a tier change) starts at
// the load of the least loaded member already eligible, as if it had always carried its share.
// Without this, a member whose totals fell behind while it was away would get every request
// until it caught up: the recovery flood of the stock module.
void level_entering(const SchedulerConfig& config, BalancerView view, const MemberInput* inputs,
                    std::size_t count, MonoNanos now) {
    bool any_established = false;
    double level = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const MemberState& st = view.members[i];
        if (!is_candidate(st) || is_entering(st)) continue;
        double l = load_of(st);
        level = any_established ? std::min(level, l) : l;
        any_established = true;
    }
    const double mean = group_mean_bytes(view, count);
    for (std::size_t i = 0; i < count; ++i) {
        MemberState& st = view.members[i];
        if (!is_entering(st)) continue;
        st.scaled_bytes = std::max(0.0, level * st.weight_seen - st.scaled_pending);
        st.scaled_requests = mean > 0 ? st.scaled_bytes / mean : 0;
    }
}

}  // namespace

// Invariant: among eligible members, the one chosen has the smallest
// (decayed bytes + in-flight charge) / effective weight; each choice raises its load by one
// mean request, so over time every member's load per weight stays level, i.e. bytes follow
// the weights. Decay is forward decay, so the comparison is on stored numbers, no exp() per member.
int TrafficScheduler::pick(const SchedulerConfig& config, BalancerView view,
                           const MemberInput* inputs, std::size_t count, MonoNanos now) {
    RefreshResult refreshed = begin_pick(config, view, inputs, count, now);
    if (refreshed.candidate_set_changed) level_entering(config, view, inputs, count, now);

    // Least (bytes + in-flight charge) per unit of weight.
    int best = -1;
    double best_load = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < count; ++i) {
        MemberState& st = view.members[i];
        const bool candidate = is_candidate(st);
        st.flags = candidate ? (st.flags | kWasCandidate) : (st.flags & ~kWasCandidate);
        const double load = candidate ? load_of(st) : std::numeric_limits<double>::infinity();
        if (load < best_load) {
            best_load = load;
            best = static_cast<int>(i);
        }
    }
    if (best >= 0) charge(config, view, static_cast<std::size_t>(best), count, now, true);
    return best;
}

void TrafficScheduler::charge(const SchedulerConfig& config, BalancerView view, std::size_t slot,
                              std::size_t count, MonoNanos now, bool in_flight) {
    const double scale = decay_scale(config, *view.header, now);
    MemberState& st = view.members[slot];
    double mean = st.scaled_requests > 0 && st.scaled_bytes > 0
                      ? st.scaled_bytes / st.scaled_requests
                      : group_mean_bytes(view, count);
    if (mean <= 0) mean = kFallbackChargeBytes * scale;
    if (in_flight) {
        st.scaled_pending += mean;
        st.inflight += 1;
    }
    st.scaled_requests += scale;
    st.picks_total += 1;
    view.header->picks_total += 1;
}

}  // namespace balancer_traffic
