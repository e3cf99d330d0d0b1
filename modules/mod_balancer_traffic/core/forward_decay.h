// Exponentially decaying sums without touching every member on every tick ("forward decay",
// Cormode et al. 2009). An amount x added at time t is stored as x * exp((t - origin) / window).
// The decayed value at time now is stored * exp(-(now - origin) / window): the same factor for
// every member, so comparisons between members use the stored numbers directly. The stored
// numbers grow with time; rebase() folds the factor in before they get large.
#pragma once

#include <cmath>

#include "member_state.h"
#include "scheduler_config.h"

namespace balancer_traffic {

class ForwardDecay {
  public:
    ForwardDecay(const SchedulerConfig& config, MonoNanos origin)
        : window_ns_(static_cast<double>(config.window.count())), origin_(origin) {}

    // Factor an amount added at `now` is stored with.
    double scale_at(MonoNanos now) const {
        if (window_ns_ == 0) return 1.0;
        return std::exp(static_cast<double>(now - origin_) / window_ns_);
    }

    // Factor turning a stored amount into its decayed value at `now`.
    double decay_at(MonoNanos now) const { return 1.0 / scale_at(now); }

    // e^40 ~ 2e17: stored byte sums stay far inside double range and precision relative to
    // each other is unaffected, since all members share the factor.
    bool needs_rebase(MonoNanos now) const {
        return window_ns_ != 0 &&
               static_cast<double>(now - origin_) > kRebaseAfterWindows * window_ns_;
    }

  private:
    static constexpr double kRebaseAfterWindows = 40.0;
    double window_ns_;
    MonoNanos origin_;
};

// ForwardDecay::scale_at(now) for the balancer, remembered in its header for
// kScaleReuseNanos: at thousands of picks per second most picks then need no exp(). The error
// this allows is below 1e-4 of a window of 1 s or more.
constexpr MonoNanos kScaleReuseNanos = 100'000;
double decay_scale(const SchedulerConfig& config, BalancerHeader& header, MonoNanos now);

// Folds the decay accumulated since the header's origin into every stored amount and moves the
// origin to `now`.
void rebase_decay(const SchedulerConfig& config, BalancerView view, MonoNanos now);

}  // namespace balancer_traffic
