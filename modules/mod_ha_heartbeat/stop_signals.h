// Makes httpd's parent wait, when it is told to stop (SIGTERM: stop; SIGWINCH: graceful-stop),
// until the heartbeat process has drained the service addresses, handed them on and released
// them, and only then lets httpd's own handler run. httpd ends its children as soon as its
// handler has run, and any connection still on them would be cut; the drain needs them serving.
#pragma once

// clang-format off: httpd.h first, the other httpd headers rely on what it declares.
#include <httpd.h>
// clang-format on

#include "core/ha_config.h"

namespace ha_heartbeat {

// In the parent, once its MPM has installed its signal handlers (the first worker of a
// generation has started): wraps httpd's stop handlers. Undone when `pconf` is cleared, before
// this module is unloaded at a restart (httpd installs its handlers again for the next one).
void defer_stop_signals(apr_pool_t* pconf, const HaConfig& config);

}  // namespace ha_heartbeat
