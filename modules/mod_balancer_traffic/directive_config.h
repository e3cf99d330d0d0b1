// The directives as parsed: server-wide values and, per <Proxy balancer://...> section, the
// values written inside it; merged into the SchedulerConfig a balancer runs with (section over
// virtual host over main server).
#pragma once

#include <chrono>

#include "core/scheduler_config.h"

namespace balancer_traffic {

constexpr nanoseconds kMinimumWindow = std::chrono::milliseconds(100);
constexpr nanoseconds kMaximumWindow = std::chrono::hours(24);
constexpr nanoseconds kMinimumSlowStart = std::chrono::milliseconds(100);
constexpr nanoseconds kMaximumSlowStart = std::chrono::hours(1);
constexpr nanoseconds kMinimumLatencyDecay = std::chrono::milliseconds(10);
constexpr nanoseconds kMaximumLatencyDecay = std::chrono::minutes(10);

struct DirectiveConfig {
    bool window_set = false;
    bool slow_start_set = false;
    bool latency_decay_set = false;
    nanoseconds window = kDefaultTrafficWindow;
    nanoseconds slow_start{0};
    nanoseconds latency_decay = kDefaultLatencyDecay;
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
    if (add.latency_decay_set) {
        out.latency_decay = add.latency_decay;
        out.latency_decay_set = true;
    }
    return out;
}

// httpd 2.4 hands a balancer its <Proxy> section's configuration only when the section line
// has parameters, so sections are recorded by balancer name in the server's configuration.
struct SectionConfig {
    const char* balancer;  // "balancer://name" as written in <Proxy ...>
    DirectiveConfig config;
};

struct ServerConfig {
    DirectiveConfig defaults;
    SectionConfig* sections;  // an APR array's elements; later entries win
    int section_count;
};

inline SchedulerConfig to_scheduler_config(const DirectiveConfig& d) {
    SchedulerConfig c;
    c.window = d.window;
    c.slow_start = d.slow_start;
    c.latency_decay = d.latency_decay;
    return c;
}

}  // namespace balancer_traffic
