// The heartbeat loop's rules that are not the election's: how long the addresses linger after
// a move, how long a stopping master waits for its successor, when an episode is over, what
// health the election is told, and when a master announces its addresses again. The loop
// (os/heartbeat_process.cpp) only carries them out. Pure; unit-tested in loop_rules_test.cpp.
#pragma once

#include <cstdint>
#include <string>

#include "ha_types.h"
#include "wire_codec.h"

namespace ha_heartbeat {

// After its successor has claimed, an old master keeps the addresses one interval more, and at
// least 50 ms, for requests that clients sent before the successor's announcement reached them
// (both nodes answer meanwhile; each client talks to one).
nanoseconds release_linger(nanoseconds interval);
// After resigning, how long a master waits to hear its successor claim before it releases the
// addresses anyway: five intervals.
nanoseconds resign_wait(nanoseconds interval);
// The longest a planned stop can take once the drain has begun: the drain, the resign wait and
// the linger (the parent waits that long, plus a margin, for the heartbeat process).
nanoseconds planned_stop_bound(nanoseconds drain_timeout, nanoseconds interval);
// An episode (another node claiming master, a run of rejected datagrams) is over after ten
// intervals without a new event, and never sooner than a second: at 10 ms a split brain would
// otherwise end and start again between two lost heartbeats.
nanoseconds episode_quiet(nanoseconds interval);

// What the election is told about this node's health: the HATrack checks, the service
// interfaces' carrier, and HATrackBalancers. A link problem is a fault (the addresses cannot
// be served there); a balancer problem lowers the priority by its weight, or with weight 0 is
// a fault. The reason puts the link first, then the balancers, then the checks.
struct HealthInputs {
    bool checks_fault = false;
    int checks_penalty = 0;
    std::string checks_reason;
    std::string link_problem;      // empty: every service interface is up with carrier
    std::string balancer_problem;  // empty: every balancer has a usable member
    int balancer_weight = 0;
};
struct HealthVerdict {
    bool fault = false;
    int penalty = 0;
    std::string reason;
};
HealthVerdict health_verdict(const HealthInputs& in);

// A master hears a peer that had been lost (a partition heals, a node restarts) or that also
// claims master: the clients on its side may have that peer's MAC for the addresses in their
// ARP caches, so the master announces again rather than leave them to time out (keepalived's
// most reported split-brain problem), at most once an interval. A master that resigned
// (priority 0) or hands over to this node is no split brain; a node that is itself stepping
// down announces nothing (its successor does).
struct ReannounceDecision {
    bool split_brain = false;  // another master that is not stepping down for us
    bool announce = false;     // announce the addresses again now
};
ReannounceDecision on_master_heard(const Heartbeat& hb, bool returning, bool self_resigning,
                                   std::uint32_t self_id, nanoseconds since_last_announcement,
                                   nanoseconds interval);

}  // namespace ha_heartbeat
