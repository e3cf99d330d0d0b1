// The status page's numbers as metrics a monitoring system scrapes (`?metrics`): the same
// MemberReport the HTML and JSON pages show, per balancer and member, written with the suite's
// exposition writer (openmetrics.h). Names start with httpd_balancer_traffic_.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "openmetrics.h"
#include "status_report.h"

namespace balancer_traffic {

struct MemberStatus {
    std::string name;
    MemberReport report;
    double loadfactor = 1;
    bool usable = false;               // httpd would send it requests (PROXY_WORKER_IS_USABLE)
    std::uint64_t requests_total = 0;  // requests mod_proxy sent to it (its "elected" count)
};

struct BalancerStatus {
    std::string name;
    std::string lbmethod;
    bool managed = false;  // a binding of ours exists: the numbers below are meaningful
    SchedulerConfig config;
    std::vector<MemberStatus> members;
};

std::string render_metrics(const std::vector<BalancerStatus>& balancers,
                           suite::MetricsFormat format);

}  // namespace balancer_traffic
