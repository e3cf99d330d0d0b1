#include "forward_decay.h"

namespace balancer_traffic {

double decay_scale(const SchedulerConfig& config, BalancerHeader& header, MonoNanos now) {
    if (config.cumulative()) return 1.0;
    if (header.scale_valid && now >= header.scale_time &&
        now - header.scale_time < kScaleReuseNanos)
        return header.scale_value;
    header.scale_value = ForwardDecay(config, header.decay_origin).scale_at(now);
    header.scale_time = now;
    header.scale_valid = 1;
    return header.scale_value;
}

void rebase_decay(const SchedulerConfig& config, BalancerView view, MonoNanos now) {
    if (config.cumulative()) return;
    const double factor = ForwardDecay(config, view.header->decay_origin).decay_at(now);
    for (std::uint32_t i = 0; i < view.header->member_count; ++i) {
        MemberState& st = view.members[i];
        st.scaled_bytes *= factor;
        st.scaled_requests *= factor;
        st.scaled_pending *= factor;
    }
    view.header->decay_origin = now;
    view.header->scale_valid = 0;
}

}  // namespace balancer_traffic
