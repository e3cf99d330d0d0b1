#include "loop_rules.h"

#include <algorithm>
#include <chrono>

namespace ha_heartbeat {
namespace {
constexpr int kResignWaitIntervals = 5;
constexpr std::chrono::milliseconds kMinReleaseLinger{50};
constexpr int kEpisodeQuietIntervals = 10;
constexpr std::chrono::seconds kMinEpisodeQuiet{1};
}  // namespace

nanoseconds release_linger(nanoseconds interval) {
    return std::max<nanoseconds>(interval, kMinReleaseLinger);
}

nanoseconds resign_wait(nanoseconds interval) {
    return kResignWaitIntervals * interval;
}

nanoseconds planned_stop_bound(nanoseconds drain_timeout, nanoseconds interval) {
    return drain_timeout + resign_wait(interval) + release_linger(interval);
}

nanoseconds episode_quiet(nanoseconds interval) {
    return std::max<nanoseconds>(kEpisodeQuietIntervals * interval, kMinEpisodeQuiet);
}

HealthVerdict health_verdict(const HealthInputs& in) {
    const bool balancer_bad = !in.balancer_problem.empty();
    HealthVerdict v;
    v.fault =
        in.checks_fault || !in.link_problem.empty() || (balancer_bad && in.balancer_weight == 0);
    v.penalty = in.checks_penalty + (balancer_bad ? in.balancer_weight : 0);
    v.reason = in.checks_reason;
    if (balancer_bad) v.reason = in.balancer_problem + "; " + v.reason;
    if (!in.link_problem.empty()) v.reason = in.link_problem + "; " + v.reason;
    return v;
}

ReannounceDecision on_master_heard(const Heartbeat& hb, bool returning, bool self_resigning,
                                   std::uint32_t self_id, nanoseconds since_last_announcement,
                                   nanoseconds interval) {
    ReannounceDecision d;
    if (self_resigning) return d;
    const bool stepping_down_for_us =
        hb.priority == kResignPriority ||
        ((hb.flags & kFlagHandover) != 0 && hb.handover_to == self_id);
    d.split_brain = !returning && !stepping_down_for_us;
    d.announce = since_last_announcement >= interval;
    return d;
}

}  // namespace ha_heartbeat
