// The status board as metrics a monitoring system scrapes (`ha-status?metrics`): the same copy
// of the board the HTML and JSON pages render, written with the suite's exposition writer
// (openmetrics.h). Names start with httpd_ha_.
#pragma once

#include <cstdint>
#include <string>

#include "openmetrics.h"
#include "status_board.h"

namespace ha_heartbeat {

std::string render_metrics(const BoardData& d, std::int64_t now_ns, suite::MetricsFormat format);

}  // namespace ha_heartbeat
