// Where the heartbeat's log lines go: the core says what happened, the glue writes it (httpd's
// error log, through the heartbeat process's log thread).
#pragma once

#include <functional>
#include <string>

namespace ha_heartbeat {

using LogFn = std::function<void(int level, const std::string& message)>;
// Levels, as syslog numbers them (httpd's APLOG_* use the same values).
constexpr int kLogError = 3;
constexpr int kLogWarning = 4;
constexpr int kLogNotice = 5;
constexpr int kLogInfo = 6;

}  // namespace ha_heartbeat
