// The balancer-traffic-status page: per balancer and member, the loadfactor, state, windowed
// bytes and requests and the current share against the target share, as HTML for people and as
// JSON for monitoring. Pure C++: the glue gathers a TrafficStatus from httpd and the shared
// state, and writes out the string these functions return.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "balancer_status.h"

namespace balancer_traffic {

struct TrafficStatus {
    MonoNanos now = 0;  // when the report was taken: the chart's right edge
    std::vector<BalancerStatus> balancers;
};

// The points of the first `members` members (at most kHistoryMembers), for BalancerStatus::history.
std::vector<std::vector<SharePoint>> share_lines(const ShareHistory& history, std::size_t members);

std::string status_json(const TrafficStatus& status);
std::string status_html(const TrafficStatus& status);

}  // namespace balancer_traffic
