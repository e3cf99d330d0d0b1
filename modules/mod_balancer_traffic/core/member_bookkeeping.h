// Bookkeeping shared by both schedulers, done at every pick before choosing: new members get a
// fresh slot, byte counters are absorbed into the decayed sums, loadfactor changes keep each
// member's normalised load, usable transitions start the slow-start ramp, and the eligible tier
// is marked.
#pragma once

#include <cstddef>

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

struct RefreshResult {
    std::size_t candidates = 0;
    bool candidate_set_changed = false;  // someone entered or left the eligible set
    bool loadfactor_changed = false;
};

RefreshResult refresh_members(const SchedulerConfig& config, BalancerView view,
                              const MemberInput* inputs, std::size_t count, MonoNanos now,
                              double scale);

// The start of every pick, for both schedulers: folds old decay in when due, then
// refresh_members() at the current decay scale.
RefreshResult begin_pick(const SchedulerConfig& config, BalancerView view,
                         const MemberInput* inputs, std::size_t count, MonoNanos now);

// Adds the bytes mod_proxy counted for this member since we last looked.
void absorb_bytes(MemberState& st, std::uint64_t byte_counter, double scale);

// The request on `slot` is over (answered, failed, or abandoned for another member): it leaves
// the in-flight count and its charge is replaced by the bytes mod_proxy actually counted.
void complete_request(const SchedulerConfig& config, BalancerView view, std::size_t slot,
                      const MemberInput& input, MonoNanos now);

// Called after a pick: this pick's eligible set becomes "the previous one".
void remember_candidates(BalancerView view, std::size_t count);

inline bool is_candidate(const MemberState& st) {
    return st.flags & kCandidate;
}
inline bool is_entering(const MemberState& st) {
    return (st.flags & kCandidate) && !(st.flags & kWasCandidate);
}

}  // namespace balancer_traffic
