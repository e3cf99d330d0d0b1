#include "member_bookkeeping.h"

#include <algorithm>
#include <cstring>

#include "forward_decay.h"
#include "slow_start.h"
#include "tier_selection.h"

namespace balancer_traffic {
namespace {

// Members present when the balancer is first seen start together and fully weighted (a ramp
// would change nothing between them); members that appear later are new and ramp up.
void adopt_slot(MemberState& st, const MemberInput& in, MonoNanos now, MonoNanos warm_since) {
    std::memset(&st, 0, sizeof st);
    st.identity = in.identity;
    st.last_byte_counter = in.byte_counter;  // bytes from before we knew it are not ours to judge
    st.usable_since = warm_since;
    if (in.usable) st.flags |= kWasUsable;
    st.loadfactor_seen = in.loadfactor;
    st.flags |= kKnown;
}

}  // namespace

void absorb_bytes(MemberState& st, std::uint64_t byte_counter, double scale) {
    // A counter that went backwards was reset (balancer-manager, or a new worker in the slot):
    // start counting from its new value.
    if (byte_counter > st.last_byte_counter) {
        std::uint64_t delta = byte_counter - st.last_byte_counter;
        st.scaled_bytes += static_cast<double>(delta) * scale;
        st.bytes_total += delta;
    }
    st.last_byte_counter = byte_counter;
}

RefreshResult refresh_members(const SchedulerConfig& config, BalancerView view,
                              const MemberInput* inputs, std::size_t count, MonoNanos now,
                              double scale) {
    RefreshResult result;
    BalancerHeader& header = *view.header;
    const bool first_sight = header.member_count == 0;
    const MonoNanos warm_since = first_sight ? now - config.slow_start.count() : now;
    header.member_count =
        std::max<std::uint32_t>(header.member_count, static_cast<std::uint32_t>(count));
    const bool ramps = config.slow_start.count() > 0;
    // Usually every member is a usable regular member of one lbset: then all are eligible and
    // the tier rules need not run. The loop marks them so optimistically.
    bool all_plain = true;
    const int first_lbset = count ? inputs[0].lbset : 0;
    for (std::size_t i = 0; i < count; ++i) {
        const MemberInput& in = inputs[i];
        MemberState& st = view.members[i];
        if (!(st.flags & kKnown) || st.identity != in.identity) adopt_slot(st, in, now, warm_since);
        absorb_bytes(st, in.byte_counter, scale);
        if (in.usable != bool(st.flags & kWasUsable)) {
            if (in.usable) st.usable_since = now;
            st.flags ^= kWasUsable;
        }
        if (in.loadfactor != st.loadfactor_seen) {
            result.loadfactor_changed = true;
            st.loadfactor_seen = in.loadfactor;
        }
        // Keep load per unit of weight when the weight moves (balancer-manager changed the
        // loadfactor, or the slow-start ramp advanced): the new weight applies to what comes
        // next instead of making the member look idle because of its past, which would send
        // it a catch-up burst.
        const double weight =
            ramps ? effective_weight(config, in, st, now) : static_cast<double>(in.loadfactor);
        if (weight != st.weight_seen) {
            if (st.weight_seen > 0) {
                const double ratio = weight / st.weight_seen;
                st.scaled_bytes *= ratio;
                st.scaled_pending *= ratio;
            }
            st.weight_seen = weight;
        }
        all_plain &= in.usable & !in.draining & (in.role == MemberRole::kRegular) &
                     (in.lbset == first_lbset);
        st.flags |= kCandidate;
        result.candidate_set_changed |= !(st.flags & kWasCandidate);
    }
    if (all_plain) {
        result.candidates = count;
        return result;
    }
    result.candidates = select_candidates(inputs, view.members, count);
    result.candidate_set_changed = false;
    for (std::size_t i = 0; i < count; ++i) {
        const std::uint8_t f = view.members[i].flags;
        result.candidate_set_changed |= bool(f & kCandidate) != bool(f & kWasCandidate);
    }
    return result;
}

RefreshResult begin_pick(const SchedulerConfig& config, BalancerView view,
                         const MemberInput* inputs, std::size_t count, MonoNanos now) {
    if (ForwardDecay(config, view.header->decay_origin).needs_rebase(now))
        rebase_decay(config, view, now);
    return refresh_members(config, view, inputs, count, now,
                           decay_scale(config, *view.header, now));
}

void remember_candidates(BalancerView view, std::size_t count) {
    for (std::size_t i = 0; i < count; ++i) {
        MemberState& st = view.members[i];
        if (st.flags & kCandidate)
            st.flags |= kWasCandidate;
        else
            st.flags &= ~kWasCandidate;
    }
}

void complete_request(const SchedulerConfig& config, BalancerView view, std::size_t slot,
                      const MemberInput& input, MonoNanos now) {
    MemberState& st = view.members[slot];
    if (!(st.flags & kKnown) || st.identity != input.identity) return;  // slot reused meanwhile
    absorb_bytes(st, input.byte_counter, decay_scale(config, *view.header, now));
    if (st.inflight <= 1) {
        st.inflight = 0;
        st.scaled_pending = 0;  // nothing in flight: drop any rounding left over
    } else {
        // Requests are not told apart: each completion releases the average charge.
        st.scaled_pending -= st.scaled_pending / st.inflight;
        st.inflight -= 1;
    }
    // bylatency: a request over is not waiting for its first byte either, even if its answer
    // was never reported (awaiting counts a subset of what is in flight).
    st.awaiting = std::min(st.awaiting, st.inflight);
}

}  // namespace balancer_traffic
