#include "tier_selection.h"

#include <climits>

namespace balancer_traffic {
namespace {

std::size_t select_in_lbset(const MemberInput* inputs, MemberState* states, std::size_t count,
                            int lbset) {
    std::size_t chosen = 0, missing_regulars = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const MemberInput& in = inputs[i];
        if (in.lbset != lbset || in.role != MemberRole::kRegular) continue;
        if (in.usable && !in.draining) {
            states[i].flags |= kCandidate;
            ++chosen;
        } else {
            ++missing_regulars;
        }
    }
    for (std::size_t i = 0; i < count && missing_regulars > 0; ++i) {
        const MemberInput& in = inputs[i];
        if (in.lbset != lbset || in.role != MemberRole::kSpare) continue;
        if (in.usable && !in.draining) {
            states[i].flags |= kCandidate;
            ++chosen;
            --missing_regulars;
        }
    }
    if (chosen > 0) return chosen;
    for (std::size_t i = 0; i < count; ++i) {
        const MemberInput& in = inputs[i];
        if (in.lbset != lbset || in.role != MemberRole::kStandby) continue;
        if (in.usable && !in.draining) {
            states[i].flags |= kCandidate;
            ++chosen;
        }
    }
    return chosen;
}

}  // namespace

std::size_t select_candidates(const MemberInput* inputs, MemberState* states, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) states[i].flags &= ~kCandidate;
    long lbset = LONG_MIN;
    for (;;) {
        // Next lbset above the one just tried: sets are sparse integers, usually just 0.
        long next = LONG_MAX;
        for (std::size_t i = 0; i < count; ++i)
            if (inputs[i].lbset > lbset && inputs[i].lbset < next) next = inputs[i].lbset;
        if (next == LONG_MAX) return 0;
        lbset = next;
        if (std::size_t chosen = select_in_lbset(inputs, states, count, static_cast<int>(lbset)))
            return chosen;
    }
}

}  // namespace balancer_traffic
