#include "latency_scheduler.h"

#include <algorithm>
#include <limits>

#include "forward_decay.h"
#include "latency_estimate.h"
#include "member_bookkeeping.h"

namespace balancer_traffic {
namespace {

// Holding a request without a current estimate (new, back after a pause, or not answering):
// it gets no second request until an answer says how fast it is.
bool awaits_answer(const SchedulerConfig& config, const MemberState& st, MonoNanos now) {
    return st.inflight > 0 && is_stale(config, st, now);
}

// The least reference latency (latency_estimate.h) among eligible members, leaving out those
// that hold requests without a current estimate (a member that hangs stops answering, so its
// last estimate stays low); infinity if nobody has one. Not the least estimate: when the whole
// pack slows down (a busy machine), every member keeps its requests waiting and then answers
// slowly, while the estimates follow over a decay time; measured against the estimates, the
// member that happens to answer last would look slow beside the rest.
double fastest_latency(const SchedulerConfig& config, BalancerView view, std::size_t count,
                       MonoNanos now) {
    double fastest = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < count; ++i) {
        const MemberState& st = view.members[i];
        if (is_candidate(st) && has_latency(st) && !awaits_answer(config, st, now))
            fastest = std::min(fastest, reference_latency(st, now));
    }
    return fastest;
}

// Whether `latency` is back near the pack for a member degraded with `peak`.
bool near_pack(double latency, double peak, double recovered_at) {
    return latency <= recovered_at && latency <= kRecoveredFromPeak * peak;
}

// Sets or clears kDegraded with hysteresis against the fastest member. A degraded member is
// readmitted only once a probe has come back near the pack and its estimate is there too; near
// the pack also means at most kRecoveredFromPeak of the highest it reached while degraded: a
// stall that slows the whole pack for a moment (a busy machine) raises the fastest, and must
// not by itself let a slow member back in.
void classify(MemberState& st, double degraded_above, double recovered_at, MonoNanos now) {
    if (!has_latency(st)) return;
    const double latency = current_latency(st, now);
    if (st.flags & kDegraded) {
        st.degraded_peak_ns = std::max(st.degraded_peak_ns, latency);
        if (st.probe_sample_ns > 0 &&
            near_pack(st.probe_sample_ns, st.degraded_peak_ns, recovered_at) &&
            near_pack(latency, st.degraded_peak_ns, recovered_at))
            st.flags &= ~kDegraded;
    } else if (latency > degraded_above) {
        st.flags |= kDegraded;
        st.degraded_peak_ns = latency;
        st.probe_sample_ns = 0;
        st.probe_at = now;  // what it holds was picked before: those answers are no probes
    }
}

// The wait before a degraded member's next probe (latency_scheduler.h): none before the first
// and after a fast one, else kProbeSpacing times its estimate, within bounds.
MonoNanos probe_interval(const SchedulerConfig& config, const MemberState& st,
                         double recovered_at) {
    if (st.probe_sample_ns == 0 || near_pack(st.probe_sample_ns, st.degraded_peak_ns, recovered_at))
        return 0;
    const double decay = static_cast<double>(config.latency_decay.count());
    return static_cast<MonoNanos>(std::clamp(kProbeSpacing * st.latency_ns, decay / kProbesPerDecay,
                                             kLongestProbeGap * decay));
}

// The interval runs from the later of the last probe and the last answer, so a slow probe's own
// time does not count toward the next one.
bool probe_due(const MemberState& st, MonoNanos now, MonoNanos interval) {
    const MonoNanos last = std::max(st.probe_at, st.latency_at);
    // A time ahead of the clock (a restored state) must not block probing for ever.
    return st.inflight == 0 && (now - last >= interval || last > now);
}

// Least requests in flight (this one included) per unit of effective weight, over every
// eligible member, degraded or not.
int least_loaded(BalancerView view, std::size_t count) {
    int best = -1;
    for (std::size_t i = 0; i < count; ++i) {
        const MemberState& st = view.members[i];
        if (!is_candidate(st)) continue;
        if (best < 0 || (st.inflight + 1.0) * view.members[best].weight_seen <
                            (view.members[best].inflight + 1.0) * st.weight_seen)
            best = static_cast<int>(i);
    }
    return best;
}

void record_pick(BalancerView view, std::size_t slot, double scale, MonoNanos now, bool in_flight) {
    MemberState& st = view.members[slot];
    st.scaled_requests += scale;
    if (in_flight) {
        st.inflight += 1;
        note_awaiting(st, now);
    }
    st.picks_total += 1;
    view.header->picks_total += 1;
}

}  // namespace

// Invariant: a degraded member (current response time > kDegradedAbove x the fastest, until a
// probe and its estimate are back at kRecoveredAtOrBelow x) gets a request only with none in
// flight, at most once per probe interval; a member holding requests without a current estimate
// gets no more (a new member thus holds one until it answers); every other eligible member competes
// by (in flight + 1) / effective weight, ties going round the members in turn (the scan starts one
// further on at each pick), so nothing but what is in flight now decides: no debt, no credit.
// When these rules would leave more than kMostSetAside of the eligible weight out (nobody has
// answered yet, or most members stall at once, as on an overloaded machine), least_loaded()
// ignores them: the few members left would be overrun.
int LatencyScheduler::pick(const SchedulerConfig& config, BalancerView view,
                           const MemberInput* inputs, std::size_t count, MonoNanos now) {
    const RefreshResult refreshed = begin_pick(config, view, inputs, count, now);
    if (refreshed.candidates == 0) {
        remember_candidates(view, count);
        return -1;
    }
    const double fastest = fastest_latency(config, view, count, now);
    const double degraded_above = kDegradedAbove * fastest;
    const double recovered_at = kRecoveredAtOrBelow * fastest;
    int best = -1, probe = -1;
    double best_queued = 0, best_weight = 1, weight = 0, set_aside = 0;
    const std::size_t start = static_cast<std::size_t>(view.header->picks_total % count);
    for (std::size_t k = 0, i = start; k < count; ++k, i = i + 1 == count ? 0 : i + 1) {
        MemberState& st = view.members[i];
        const bool candidate = is_candidate(st);
        st.flags = candidate ? (st.flags | kWasCandidate) : (st.flags & ~kWasCandidate);
        if (!candidate) continue;
        classify(st, degraded_above, recovered_at, now);
        weight += st.weight_seen;
        if (st.flags & kDegraded) {
            if (probe < 0 && probe_due(st, now, probe_interval(config, st, recovered_at)))
                probe = static_cast<int>(i);
            set_aside += st.weight_seen;
            continue;
        }
        if (awaits_answer(config, st, now)) {
            set_aside += st.weight_seen;
            continue;
        }
        const double queued = st.inflight + 1.0;
        if (best < 0 || queued * best_weight < best_queued * st.weight_seen) {
            best = static_cast<int>(i);
            best_queued = queued;
            best_weight = st.weight_seen;
        }
    }
    if (set_aside > kMostSetAside * weight) probe = best = -1;
    const int chosen = probe >= 0 ? probe : best >= 0 ? best : least_loaded(view, count);
    if (probe >= 0) view.members[probe].probe_at = now;
    record_pick(view, static_cast<std::size_t>(chosen), decay_scale(config, *view.header, now), now,
                true);
    return chosen;
}

void LatencyScheduler::charge(const SchedulerConfig& config, BalancerView view, std::size_t slot,
                              MonoNanos now) {
    record_pick(view, slot, decay_scale(config, *view.header, now), now, false);
}

}  // namespace balancer_traffic
