// When a master giving up the service addresses in a planned move (a handover, a stop) may let
// its successor announce. Until then the node drains: it takes no new connections on the
// service addresses (their SYNs are dropped, so clients retransmit them and reach the successor
// about a second later) and tells keep-alive clients to close after their current request. Once
// no connection to a service address is open, or the drain timeout has passed, the move goes
// ahead: packets of connections still open then would reach the successor after the address
// moves, and the successor answers them with a reset. Pure policy, no OS calls.
#pragma once

#include <optional>
#include <string>

#include "clock.h"
#include "ha_types.h"

namespace ha_heartbeat {

enum class MoveKind { kHandover, kStop };

const char* move_name(MoveKind k);

class DrainPolicy {
  public:
    enum class Phase {
        kIdle,      // no planned move
        kDraining,  // waiting for the open connections to end
        kMoving,    // the successor may announce; waiting for the addresses to be released
    };

    DrainPolicy(nanoseconds timeout, const Clock& clock) : timeout_(timeout), clock_(clock) {}

    // Starts draining for `kind`; a stop requested during a handover's drain takes over the
    // drain already under way (the same connections are waited for, not longer).
    void begin(MoveKind kind);
    // The connections still open on the service addresses (a negative count: could not be
    // counted, so the drain lasts its whole timeout). Returns, once, why the move may go ahead.
    std::optional<std::string> poll(int open_connections);
    // Back to Idle: the addresses were released, or the move was called off.
    void finish() { phase_ = Phase::kIdle; }

    Phase phase() const { return phase_; }
    // Moving with no connection left open: nothing on this node needs the addresses any more,
    // so they may go at once instead of after the release linger (a packet that still reaches
    // this node is dropped, not answered with a reset, and retransmitted to the successor).
    bool drained() const { return phase_ == Phase::kMoving && drained_; }
    bool active() const { return phase_ != Phase::kIdle; }
    MoveKind kind() const { return kind_; }

  private:
    nanoseconds timeout_;
    const Clock& clock_;
    Phase phase_ = Phase::kIdle;
    MoveKind kind_ = MoveKind::kHandover;
    nanoseconds started_{0};
    bool drained_ = false;
};

}  // namespace ha_heartbeat
