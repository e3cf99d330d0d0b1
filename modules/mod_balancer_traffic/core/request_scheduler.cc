#include "request_scheduler.h"

#include <algorithm>
#include <cmath>

#include "forward_decay.h"
#include "member_bookkeeping.h"
#include "slow_start.h"

namespace balancer_traffic {
namespace {

// Loadfactors are 1..100; scaling them keeps the slow-start ramp smooth in integer weights.
constexpr double kWeightResolution = 1000.0;

std::int64_t integer_weight(const MemberState& st) {
    return std::max<std::int64_t>(1, static_cast<std::int64_t>(st.weight_seen * kWeightResolution));
}

void record_pick(const SchedulerConfig& config, BalancerView view, std::size_t slot, MonoNanos now,
                 bool in_flight) {
    MemberState& st = view.members[slot];
    st.scaled_requests += decay_scale(config, *view.header, now);
    if (in_flight) st.inflight += 1;
    st.picks_total += 1;
    view.header->picks_total += 1;
}

// One round of smooth weighted round robin: every eligible member's current weight grows by
// its weight; the largest is chosen and pays back the total. Current weights always sum to 0,
// and member i's count after n picks is n*w_i/W - current_i/W with |current_i| < W, so no
// member is ever a whole request away from its exact share. `forced` >= 0 charges that member
// instead of the largest (a sticky session chose it).
int round(const SchedulerConfig& config, BalancerView view, const MemberInput* inputs,
          std::size_t count, MonoNanos now, int forced) {
    std::int64_t total = 0, best_weight = 0;
    int best = -1;
    for (std::size_t i = 0; i < count; ++i) {
        MemberState& st = view.members[i];
        if (!is_candidate(st)) continue;
        std::int64_t w = integer_weight(st);
        st.smooth_weight += w;
        total += w;
        if (best < 0 || st.smooth_weight > best_weight) {
            best = static_cast<int>(i);
            best_weight = st.smooth_weight;
        }
    }
    if (forced >= 0) best = forced;
    if (best >= 0) view.members[best].smooth_weight -= total;
    return best;
}

// The bound above holds from the moment the set and weights were last fixed: when either
// changes, everyone starts again from zero rather than carrying credit earned under other rules
// (a returning member must not get a burst for the turns it missed).
void restart_if_changed(BalancerView view, std::size_t count, bool changed) {
    if (!changed) return;
    for (std::size_t i = 0; i < count; ++i) view.members[i].smooth_weight = 0;
}

}  // namespace

int RequestScheduler::pick(const SchedulerConfig& config, BalancerView view,
                           const MemberInput* inputs, std::size_t count, MonoNanos now) {
    RefreshResult refreshed = begin_pick(config, view, inputs, count, now);
    restart_if_changed(view, count,
                       refreshed.candidate_set_changed || refreshed.loadfactor_changed);
    remember_candidates(view, count);
    if (refreshed.candidates == 0) return -1;
    int best = round(config, view, inputs, count, now, -1);
    record_pick(config, view, static_cast<std::size_t>(best), now, true);
    return best;
}

void RequestScheduler::charge(const SchedulerConfig& config, BalancerView view,
                              const MemberInput* inputs, std::size_t slot, std::size_t count,
                              MonoNanos now) {
    // A member outside the eligible set takes no part in the round: its turn would unbalance
    // the sum of current weights.
    if (is_candidate(view.members[slot]))
        round(config, view, inputs, count, now, static_cast<int>(slot));
    record_pick(config, view, slot, now, false);
}

}  // namespace balancer_traffic
