// What the status pages (status_page.h: HTML and JSON; status_metrics.h: ?metrics) show, as the
// glue gathers it from httpd and the shared state: plain data, so the pages are tested alone.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "member_state.h"
#include "scheduler_config.h"
#include "share_history.h"
#include "status_report.h"

namespace balancer_traffic {

struct MemberStatus {
    std::string name;  // the worker's URL as configured; untrusted text for the pages
    MemberReport report;
    double loadfactor = 1;
    bool usable = false;               // httpd would send it requests (PROXY_WORKER_IS_USABLE)
    std::uint64_t requests_total = 0;  // requests mod_proxy sent to it (its "elected" count)
    std::string state;                 // balancer-manager's letters: "Ok", "Dis Err", ...
    int lbset = 0;
};

struct BalancerStatus {
    std::string name;      // "balancer://..."
    std::string lbmethod;  // "none" when the balancer has none
    // A binding of ours exists: mod_balancer_traffic keeps state for the balancer, so the
    // numbers below are meaningful; without it the pages list the balancer alone.
    bool managed = false;
    SchedulerConfig config;
    std::vector<MemberStatus> members;
    bool our_lbmethod = false;  // one of our lbmethods schedules it
    bool by_latency = false;    // that lbmethod is bylatency
    // Per charted member (the first kHistoryMembers), its points of the last minute.
    std::vector<std::vector<SharePoint>> history;
};

}  // namespace balancer_traffic
