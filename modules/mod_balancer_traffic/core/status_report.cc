#include "status_report.h"

#include "forward_decay.h"
#include "latency_estimate.h"
#include "slow_start.h"

namespace balancer_traffic {

void report_members(const SchedulerConfig& config, BalancerView view, const MemberInput* inputs,
                    std::size_t count, MonoNanos now, MemberReport* out) {
    const double decay = ForwardDecay(config, view.header->decay_origin).decay_at(now);
    double bytes = 0, requests = 0, weight = 0;
    for (std::size_t i = 0; i < count; ++i) {
        const MemberState& st = view.members[i];
        MemberReport& r = out[i];
        r = MemberReport{};
        if (!(st.flags & kKnown) || st.identity != inputs[i].identity) continue;
        r.window_bytes = st.scaled_bytes * decay;
        r.window_requests = st.scaled_requests * decay;
        r.slow_start = slow_start_factor(config, st.usable_since, now);
        r.picks_total = st.picks_total;
        r.bytes_total = st.bytes_total;
        r.inflight = st.inflight;
        r.eligible = st.flags & kWasCandidate;
        if (has_latency(st)) {
            r.latency_ns = st.latency_ns;
            r.latency_age_ns = static_cast<double>(now - st.latency_at);
        }
        bytes += r.window_bytes;
        requests += r.window_requests;
        if (r.eligible) weight += effective_weight(config, inputs[i], st, now);
    }
    for (std::size_t i = 0; i < count; ++i) {
        MemberReport& r = out[i];
        if (bytes > 0) r.byte_share = r.window_bytes / bytes;
        if (requests > 0) r.request_share = r.window_requests / requests;
        if (r.eligible && weight > 0)
            r.target_share = effective_weight(config, inputs[i], view.members[i], now) / weight;
    }
}

}  // namespace balancer_traffic
