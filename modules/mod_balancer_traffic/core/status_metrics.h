// The status page's numbers as metrics a monitoring system scrapes (`?metrics`): the same
// MemberReport the HTML and JSON pages show, per balancer and member, written with the suite's
// exposition writer (openmetrics.h). Names start with httpd_balancer_traffic_.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "balancer_status.h"
#include "openmetrics.h"

namespace balancer_traffic {

std::string render_metrics(const std::vector<BalancerStatus>& balancers,
                           suite::MetricsFormat format);

}  // namespace balancer_traffic
