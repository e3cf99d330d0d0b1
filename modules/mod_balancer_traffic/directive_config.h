// The directives as parsed: one per <Proxy balancer://...> section and one per server, merged
// into the SchedulerConfig a balancer runs with (section over virtual host over main server).
#pragma once

#include <chrono>

#include "core/scheduler_config.h"

namespace balancer_traffic {

constexpr nanoseconds kMinimumWindow = std::chrono::milliseconds(100);
constexpr nanoseconds kMaximumWindow = std::chrono::hours(24);
constexpr nanoseconds kMaximumSlowStart = std::chrono::hours(1);

struct DirectiveConfig {
    bool window_set = false;
    bool slow_start_set = false;
    nanoseconds window = kDefaultTrafficWindow;
    nanoseconds slow_start{0};
};

inline DirectiveConfig merge(const DirectiveConfig& base, const DirectiveConfig& add) {
    DirectiveConfig out = base;
    if (add.window_set) {
        out.window = add.window;
        out.window_set = true;
    }
    if (add.slow_start_set) {
        out.slow_start = add.slow_start;
        out.slow_start_set = true;
    }
    return out;
}

inline SchedulerConfig to_scheduler_config(const DirectiveConfig& d) {
    SchedulerConfig c;
    c.window = d.window;
    c.slow_start = d.slow_start;
    return c;
}

}  // namespace balancer_traffic
