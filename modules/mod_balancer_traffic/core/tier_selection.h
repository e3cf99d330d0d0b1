// Which members may be picked right now: the stock mod_proxy_balancer rules.
//  - lbsets are tried lowest first; a higher set is used only if the lower has nobody usable.
//  - in a set, usable regular members are eligible; hot spares (+R) stand in for regular members
//    that are unusable or draining, one spare per missing member, in configuration order;
//  - hot standbys (+H) are eligible only if no regular member or spare of the set is.
//  - draining (+N) members are never eligible.
#pragma once

#include <cstddef>

#include "member_state.h"

namespace balancer_traffic {

// Sets kCandidate in states[i].flags for each eligible member, clears it for the others, and
// returns how many are eligible (0: all down, the caller answers 503).
std::size_t select_candidates(const MemberInput* inputs, MemberState* states, std::size_t count);

}  // namespace balancer_traffic
