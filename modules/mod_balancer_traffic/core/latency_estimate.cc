#include "latency_estimate.h"

#include <algorithm>

namespace balancer_traffic {
namespace {

// exp(-x) for x >= 0 as 1 / (1 + x + x^2/2 + x^3/6), the cubic Taylor polynomial of e^x:
// within 1% for x <= 1 (samples come far more often than once per decay time), and like e^-x
// it falls from 1 toward 0, so the average never leaves the range of its inputs. It keeps
// exp() off the per-request path.
double weight_kept(double x) {
    return 1.0 / (1.0 + x * (1.0 + x * (0.5 + x * (1.0 / 6.0))));
}

// An answer after a long silence weighs for at most this part of a decay time: the answers a
// member held through a stall (a busy machine deschedules a backend for a few hundred ms) then
// move its estimate a few per cent, not most of the way to the stall, while a member that
// really slowed down crosses the degraded threshold after a few rounds of slow answers.
constexpr double kMostDecayPerAnswer = 1.0 / 32;

}  // namespace

void record_latency(const SchedulerConfig& config, MemberState& st, MonoNanos sample_ns,
                    MonoNanos now, bool failed) {
    const double sample = static_cast<double>(std::max<MonoNanos>(sample_ns, 1));
    const MonoNanos picked = now - sample_ns;
    const bool since_degraded = (st.flags & kDegraded) && picked >= st.probe_at;
    const bool probe = since_degraded && picked == st.probe_at;
    if (st.awaiting > 0) st.awaiting -= 1;
    double estimate = sample;
    if (has_latency(st)) {
        const double decay =
            static_cast<double>(std::max<std::int64_t>(1, config.latency_decay.count()));
        double elapsed = std::min(static_cast<double>(std::max<MonoNanos>(0, now - st.latency_at)),
                                  kMostDecayPerAnswer * decay);
        // A degraded member's probes come a few per decay time at most: each answer stands for
        // the whole decay time, so a few fast ones in a row bring it back (and one fluke does
        // not), instead of the estimate crawling down over several decay times. The answers it
        // held when it was degraded are a burst like any other.
        if (probe) elapsed = decay;
        const double keep = weight_kept(elapsed / decay);
        estimate = st.latency_ns * keep + sample * (1.0 - keep);
        if (failed) estimate = std::max(estimate, st.latency_ns);
    }
    if (since_degraded) st.probe_sample_ns = failed ? std::max(sample, estimate) : sample;
    st.last_sample_ns = sample;
    st.latency_ns = estimate;
    st.latency_at = now != 0 ? now : 1;  // 0 means "never sampled"
}

void forget_awaiting(MemberState& st, MonoNanos now) {
    if (st.awaiting == 0) return;
    st.awaiting -= 1;
    // Which one ended is not known: the rest are counted as waiting from now (a lower bound).
    st.awaiting_since = now;
}

}  // namespace balancer_traffic
