#include "status_metrics.h"

#include <functional>

namespace balancer_traffic {
namespace {

using suite::MetricType;

constexpr double kNanosPerSecond = 1e9;

// One family with one sample per member of every managed balancer.
void member_family(suite::MetricsWriter& w, const std::vector<BalancerStatus>& balancers,
                   const char* name, MetricType type, const char* help, const char* unit,
                   const std::function<double(const MemberStatus&)>& value,
                   const std::function<bool(const MemberStatus&)>& present = nullptr) {
    w.family(name, type, help, unit);
    for (const BalancerStatus& b : balancers) {
        if (!b.managed) continue;
        for (const MemberStatus& m : b.members)
            if (!present || present(m))
                w.sample({{"balancer", b.name}, {"member", m.name}}, value(m));
    }
}

void balancer_families(suite::MetricsWriter& w, const std::vector<BalancerStatus>& balancers) {
    w.family("httpd_balancer_traffic_balancer", MetricType::kInfo,
             "A proxy balancer, its lbmethod and whether mod_balancer_traffic keeps its numbers");
    for (const BalancerStatus& b : balancers)
        w.sample({{"balancer", b.name},
                  {"lbmethod", b.lbmethod},
                  {"managed", b.managed ? "true" : "false"}},
                 1);
    w.family("httpd_balancer_traffic_window_seconds", MetricType::kGauge,
             "Time constant of the traffic window the shares decay over; 0: cumulative, no decay",
             "seconds");
    for (const BalancerStatus& b : balancers)
        if (b.managed) w.sample({{"balancer", b.name}}, b.config.window.count() / kNanosPerSecond);
    w.family("httpd_balancer_traffic_slow_start_seconds", MetricType::kGauge,
             "How long a member that becomes usable ramps up its share; 0: no slow start",
             "seconds");
    for (const BalancerStatus& b : balancers)
        if (b.managed)
            w.sample({{"balancer", b.name}}, b.config.slow_start.count() / kNanosPerSecond);
    w.family("httpd_balancer_traffic_usable_members", MetricType::kGauge,
             "Members httpd would send a request to (not disabled, stopped, in error or failing "
             "health checks)");
    for (const BalancerStatus& b : balancers) {
        int usable = 0;
        for (const MemberStatus& m : b.members) usable += m.usable;
        w.sample({{"balancer", b.name}}, usable);
    }
}

// Whether httpd and the lbmethod would send the member a request, and its weight.
void member_state_families(suite::MetricsWriter& w, const std::vector<BalancerStatus>& bs) {
    member_family(w, bs, "httpd_balancer_traffic_member_usable", MetricType::kGauge,
                  "1 if httpd would send the member a request, else 0", "",
                  [](const MemberStatus& m) { return m.usable ? 1.0 : 0.0; });
    member_family(w, bs, "httpd_balancer_traffic_member_eligible", MetricType::kGauge,
                  "1 if the member was a candidate at the last pick (usable, in the chosen lbset "
                  "tier), else 0",
                  "", [](const MemberStatus& m) { return m.report.eligible ? 1.0 : 0.0; });
    member_family(w, bs, "httpd_balancer_traffic_member_loadfactor", MetricType::kGauge,
                  "The member's loadfactor (its weight)", "",
                  [](const MemberStatus& m) { return m.loadfactor; });
}

// What the member carried: within the traffic window, since httpd started, and in flight now.
void member_traffic_families(suite::MetricsWriter& w, const std::vector<BalancerStatus>& bs) {
    member_family(w, bs, "httpd_balancer_traffic_member_window_bytes", MetricType::kGauge,
                  "Bytes both ways within the traffic window (decayed; all-time when cumulative)",
                  "bytes", [](const MemberStatus& m) { return m.report.window_bytes; });
    member_family(w, bs, "httpd_balancer_traffic_member_window_requests", MetricType::kGauge,
                  "Requests picked within the traffic window (decayed)", "",
                  [](const MemberStatus& m) { return m.report.window_requests; });
    member_family(w, bs, "httpd_balancer_traffic_member_bytes", MetricType::kCounter,
                  "Bytes both ways the member has carried", "bytes",
                  [](const MemberStatus& m) { return static_cast<double>(m.report.bytes_total); });
    member_family(w, bs, "httpd_balancer_traffic_member_requests", MetricType::kCounter,
                  "Requests mod_proxy sent to the member, by any route (lbmethod or stickiness)",
                  "", [](const MemberStatus& m) { return static_cast<double>(m.requests_total); });
    member_family(w, bs, "httpd_balancer_traffic_member_picks", MetricType::kCounter,
                  "Times the lbmethod picked the member", "",
                  [](const MemberStatus& m) { return static_cast<double>(m.report.picks_total); });
    member_family(w, bs, "httpd_balancer_traffic_member_in_flight_requests", MetricType::kGauge,
                  "Requests sent to the member and not finished yet", "",
                  [](const MemberStatus& m) { return static_cast<double>(m.report.inflight); });
}

// The share the member should get (slow start included) beside the shares it got.
void member_share_families(suite::MetricsWriter& w, const std::vector<BalancerStatus>& bs) {
    member_family(w, bs, "httpd_balancer_traffic_member_target_share_ratio", MetricType::kGauge,
                  "The share of the traffic the member should get: its effective weight over the "
                  "eligible members' total",
                  "ratio", [](const MemberStatus& m) { return m.report.target_share; });
    member_family(w, bs, "httpd_balancer_traffic_member_byte_share_ratio", MetricType::kGauge,
                  "The member's share of the balancer's window bytes", "ratio",
                  [](const MemberStatus& m) { return m.report.byte_share; });
    member_family(w, bs, "httpd_balancer_traffic_member_request_share_ratio", MetricType::kGauge,
                  "The member's share of the balancer's window requests", "ratio",
                  [](const MemberStatus& m) { return m.report.request_share; });
    member_family(w, bs, "httpd_balancer_traffic_member_slow_start_ratio", MetricType::kGauge,
                  "The slow-start factor applied to the member's weight, 1 when fully up", "ratio",
                  [](const MemberStatus& m) { return m.report.slow_start; });
}

// bylatency's estimate, for members that have been sampled.
void member_latency_families(suite::MetricsWriter& w, const std::vector<BalancerStatus>& bs) {
    const auto has_latency = [](const MemberStatus& m) { return m.report.latency_age_ns >= 0; };
    member_family(
        w, bs, "httpd_balancer_traffic_member_latency_seconds", MetricType::kGauge,
        "bylatency's estimate of the member's time to first byte (moving average); absent "
        "before its first sample",
        "seconds", [](const MemberStatus& m) { return m.report.latency_ns / kNanosPerSecond; },
        has_latency);
    member_family(
        w, bs, "httpd_balancer_traffic_member_latency_sample_age_seconds", MetricType::kGauge,
        "Time since the member's last latency sample", "seconds",
        [](const MemberStatus& m) { return m.report.latency_age_ns / kNanosPerSecond; },
        has_latency);
}

}  // namespace

std::string render_metrics(const std::vector<BalancerStatus>& balancers,
                           suite::MetricsFormat format) {
    suite::MetricsWriter w(format);
    balancer_families(w, balancers);
    member_state_families(w, balancers);
    member_traffic_families(w, balancers);
    member_share_families(w, balancers);
    member_latency_families(w, balancers);
    return w.finish();
}

}  // namespace balancer_traffic
