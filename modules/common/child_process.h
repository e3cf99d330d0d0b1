// What the modules' supervisors and the processes they fork share: a forked child starting from
// clean signal state, and the end of a child that was asked to stop.
#pragma once

#include <sys/types.h>

#include <chrono>

namespace suite {

// Undoes what httpd's parent set up for the MPM: every handler back to its default, SIGPIPE
// ignored (a closed peer is an error return, not a death), no signal blocked.
void reset_signals();

// Waits up to `grace` for `pid` (already sent SIGTERM) to exit, then SIGKILLs it; reaps it
// either way. True if it exited within the grace period.
bool reap_or_kill(pid_t pid, std::chrono::milliseconds grace);

}  // namespace suite
