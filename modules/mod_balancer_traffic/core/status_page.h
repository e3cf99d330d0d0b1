// The balancer-traffic-status page: per balancer and member, the loadfactor, state, windowed
// bytes and requests and the current share against the target share, as HTML for people and as
// JSON for monitoring. Pure C++: the glue gathers a TrafficStatus from httpd and the shared
// state, and writes out the string these functions return.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "member_state.h"
#include "scheduler_config.h"
#include "share_history.h"
#include "status_report.h"

namespace balancer_traffic {

struct MemberStatus {
    std::string name;   // the worker's URL as configured; untrusted text for the page
    std::string state;  // balancer-manager's letters: "Ok", "Dis Err", ...
    double loadfactor = 1;
    int lbset = 0;
    MemberReport report;
};

struct BalancerStatus {
    std::string name;      // "balancer://..."
    std::string lbmethod;  // "none" when the balancer has none
    // mod_balancer_traffic keeps state for the balancer (members, configuration, history);
    // without it the page lists the balancer alone.
    bool tracked = false;
    bool managed = false;     // one of our lbmethods schedules it
    bool by_latency = false;  // that lbmethod is bylatency
    SchedulerConfig config;
    std::vector<MemberStatus> members;
    // Per charted member (the first kHistoryMembers), its points of the last minute.
    std::vector<std::vector<SharePoint>> history;
};

struct TrafficStatus {
    MonoNanos now = 0;  // when the report was taken: the chart's right edge
    std::vector<BalancerStatus> balancers;
};

// The points of the first `members` members (at most kHistoryMembers), for BalancerStatus::history.
std::vector<std::vector<SharePoint>> share_lines(const ShareHistory& history, std::size_t members);

std::string status_json(const TrafficStatus& status);
std::string status_html(const TrafficStatus& status);

}  // namespace balancer_traffic
