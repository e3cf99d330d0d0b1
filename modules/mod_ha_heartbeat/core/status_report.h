// Renders a copy of the status board for people (HTML) and monitoring (JSON).
#pragma once

#include <string>

#include "status_board.h"

namespace ha_heartbeat {

std::string render_json(const BoardData& d, std::int64_t now_ns);
std::string render_html(const BoardData& d, std::int64_t now_ns);

}  // namespace ha_heartbeat
