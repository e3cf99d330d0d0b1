// The boot epoch: a number that grows at every start of the heartbeat process, so that peers'
// replay guards accept the restarted node's sequence numbers (which start again at 1) while still
// rejecting anything recorded from an earlier run.
#pragma once

#include <cstdint>
#include <string>

#include "duration.h"

namespace ha_heartbeat {

// Reads the last epoch from `path`, returns max(last + 1, wall_clock_seconds) and stores it
// (write to a temporary file, fsync, rename). The wall-clock floor keeps epochs growing even if
// the file is lost, as long as the clock is not set back.
suite::Parsed<std::uint64_t> next_boot_epoch(const std::string& path,
                                             std::uint64_t wall_clock_seconds);

}  // namespace ha_heartbeat
