#include "forward_decay.h"

namespace balancer_traffic {

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
}

}  // namespace balancer_traffic
