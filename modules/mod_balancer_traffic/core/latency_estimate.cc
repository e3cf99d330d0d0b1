#include "latency_estimate.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace balancer_traffic {
namespace {

// As forward_decay.h: e^40 keeps stored estimates (nanoseconds, < 1e12) far inside double range.
constexpr double kRebaseAfterDecays = 40.0;

// A sample this far above the estimate replaces it at once (a slowdown); samples below that
// are averaged in. Ordinary jitter (a p99 about twice the median) then moves the estimate by
// its weight instead of setting it to the latest peak, which would make every member look as
// slow as its worst recent answer and blur the difference to a member that really slowed down.
constexpr double kPeakFactor = 2.0;

double decay_ns(const SchedulerConfig& config) {
    return static_cast<double>(std::max<std::int64_t>(1, config.latency_decay.count()));
}

double scale_at(const SchedulerConfig& config, const BalancerHeader& header, MonoNanos now) {
    return std::exp(static_cast<double>(now - header.latency_origin) / decay_ns(config));
}

void store(const SchedulerConfig& config, const BalancerHeader& header, MemberState& st,
           double estimate_ns, MonoNanos now) {
    st.latency_ns = estimate_ns;
    st.latency_at = now != 0 ? now : 1;  // 0 means "never sampled"
    const double scaled = estimate_ns * scale_at(config, header, now);
    // Finite unless a sample arrives hundreds of decay times after the last pick rebased.
    st.scaled_latency = std::isfinite(scaled) ? scaled : std::numeric_limits<double>::max();
}

}  // namespace

void record_latency(const SchedulerConfig& config, BalancerHeader& header, MemberState& st,
                    MonoNanos sample_ns, MonoNanos now, bool failed) {
    const double sample = static_cast<double>(std::max<MonoNanos>(sample_ns, 1));
    double estimate = sample;
    if (has_latency(st) && sample < kPeakFactor * st.latency_ns) {
        if (failed) {
            estimate = std::max(st.latency_ns, sample);
        } else {
            const double elapsed = static_cast<double>(std::max<MonoNanos>(0, now - st.latency_at));
            const double keep = std::exp(-elapsed / decay_ns(config));
            estimate = st.latency_ns * keep + sample * (1.0 - keep);
        }
    }
    store(config, header, st, estimate, now);
}

void seed_latency(const SchedulerConfig& config, const BalancerHeader& header, MemberState& st,
                  double estimate_ns, MonoNanos now) {
    store(config, header, st, estimate_ns, now);
}

double decayed_latency(const SchedulerConfig& config, const BalancerHeader& header,
                       const MemberState& st, MonoNanos now) {
    if (!has_latency(st)) return 0;
    return st.scaled_latency / scale_at(config, header, now);
}

void rebase_latency(const SchedulerConfig& config, BalancerView view, MonoNanos now) {
    BalancerHeader& header = *view.header;
    if (static_cast<double>(now - header.latency_origin) <= kRebaseAfterDecays * decay_ns(config))
        return;
    const double factor = 1.0 / scale_at(config, header, now);
    for (std::uint32_t i = 0; i < header.member_count; ++i)
        view.members[i].scaled_latency *= factor;
    header.latency_origin = now;
}

}  // namespace balancer_traffic
