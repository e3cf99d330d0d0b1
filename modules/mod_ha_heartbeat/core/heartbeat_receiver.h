// The receive path of a datagram, in the order that keeps untrusted input harmless: the source
// must be a configured peer, then size/magic/version, then the MAC (constant time), then the
// fields, then the replay guard, then the challenge echo. Every rejection is counted by reason;
// nothing rejected reaches the election.
//
// The challenge: the receiver draws a random, non-zero challenge when it is created (once per
// start of the heartbeat process) and the sender side puts it in every heartbeat; each peer
// echoes the latest challenge it has received from us. A heartbeat counts as a sign of life
// only if it echoes our current challenge, so heartbeats recorded before this receiver started
// are worthless even though its replay marks (in memory) start empty: a restarted backup is not
// kept from claiming by a replay of its dead master. No clock is involved. The price is one
// round trip: a peer is heard only after it has received one of our heartbeats.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <vector>

#include "replay_guard.h"
#include "wire_codec.h"

namespace ha_heartbeat {

struct DropCounters {
    std::uint64_t unknown_source = 0;
    std::uint64_t wrong_size = 0;
    std::uint64_t bad_magic = 0;
    std::uint64_t bad_version = 0;
    std::uint64_t bad_mac = 0;
    std::uint64_t malformed = 0;
    std::uint64_t wrong_cluster = 0;
    std::uint64_t replayed = 0;
    std::uint64_t own_node_id = 0;  // a peer configured with our node name, or a reflection
    std::uint64_t table_full = 0;
    std::uint64_t unconfirmed = 0;  // authentic and fresh, but echoing another challenge

    std::uint64_t total() const {
        return unknown_source + wrong_size + bad_magic + bad_version + bad_mac + malformed +
               wrong_cluster + replayed + own_node_id + table_full + unconfirmed;
    }
};

// Calls f(reason, count) for every counter of `c`, reasons named as the status pages show them.
template <class F>
void for_each_drop(const DropCounters& c, F f) {
    f("unknown_source", c.unknown_source);
    f("wrong_size", c.wrong_size);
    f("bad_magic", c.bad_magic);
    f("bad_version", c.bad_version);
    f("bad_mac", c.bad_mac);
    f("malformed", c.malformed);
    f("wrong_cluster", c.wrong_cluster);
    f("replayed", c.replayed);
    f("own_node_id", c.own_node_id);
    f("table_full", c.table_full);
    f("unconfirmed", c.unconfirmed);
}

class HeartbeatReceiver {
  public:
    // `challenge` 0: draw a random one (tests pass their own to be reproducible).
    HeartbeatReceiver(SecretKey key, std::uint32_t cluster_id, std::uint32_t own_node_id,
                      std::vector<WireAddress> peers, std::uint64_t challenge = 0);

    std::optional<Heartbeat> accept(const std::uint8_t* data, std::size_t size,
                                    const WireAddress& source);

    // What the send path puts in a heartbeat to `peer`: our challenge, and the latest
    // challenge received from that peer (0 if none yet, or not a configured peer).
    std::uint64_t challenge() const { return challenge_; }
    std::uint64_t echo_for(const WireAddress& peer) const;

    const DropCounters& drops() const { return drops_; }
    std::uint64_t accepted() const { return accepted_; }
    // Authentic and fresh, but the sender had not received our challenge yet (echo 0): normal
    // at every first contact, so not a drop; not a sign of life either.
    std::uint64_t awaiting_echo() const { return awaiting_echo_; }

  private:
    SecretKey key_;
    std::uint32_t cluster_id_;
    std::uint32_t own_node_id_;
    std::vector<WireAddress> peers_;
    std::vector<std::uint64_t> echoes_;  // per peer, the latest challenge it sent us
    std::uint64_t challenge_;
    ReplayGuard guard_;
    DropCounters drops_;
    std::uint64_t accepted_ = 0;
    std::uint64_t awaiting_echo_ = 0;
};

}  // namespace ha_heartbeat
