// The boot epoch: a number that grows at every start of the heartbeat process, so that peers'
// replay guards accept the restarted node's sequence numbers (which start again at 1) while still
// rejecting anything recorded from an earlier run.
//
// It must survive a reboot: a node whose epoch went backwards is taken by its peers for a replay
// of itself and ignored until their memory of the higher epoch ends (a lasting split brain). So
// the default file is on persistent storage (kDefaultEpochFile), and the next epoch is always
// above the stored one whatever the clock says; the wall clock is only a floor for when the file
// is lost.
#pragma once

#include <cstdint>
#include <string>

#include "duration.h"

namespace ha_heartbeat {

// Debian keeps httpd's persistent state under /var/lib/apache2; the directory is created (0700)
// by the heartbeat process, which writes the file while it is still root.
constexpr const char* kDefaultEpochFile = "/var/lib/apache2/ha_heartbeat/epoch";

// Reads the last epoch from `path`, returns max(last + 1, wall_clock_seconds) and stores it:
// written to a temporary file created with O_EXCL|O_NOFOLLOW next to it, fsync'ed, renamed over
// `path`, and the directory fsync'ed, so that a crash leaves the old or the new value, never a
// torn one. Creates the file's directory (not its parents) if missing. A stored value that is
// not a number is an error rather than 0, which would let the epoch go backwards.
suite::Parsed<std::uint64_t> next_boot_epoch(const std::string& path,
                                             std::uint64_t wall_clock_seconds);

}  // namespace ha_heartbeat
