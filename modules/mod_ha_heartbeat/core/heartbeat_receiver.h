// The receive path of a datagram, in the order that keeps untrusted input harmless: the source
// must be a configured peer, then size/magic/version, then the MAC (constant time), then the
// fields, then the replay guard. Every rejection is counted by reason; nothing rejected reaches
// the election.
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

    std::uint64_t total() const {
        return unknown_source + wrong_size + bad_magic + bad_version + bad_mac + malformed +
               wrong_cluster + replayed + own_node_id + table_full;
    }
};

class HeartbeatReceiver {
  public:
    HeartbeatReceiver(SecretKey key, std::uint32_t cluster_id, std::uint32_t own_node_id,
                      std::vector<WireAddress> peers)
        : key_(std::move(key)),
          cluster_id_(cluster_id),
          own_node_id_(own_node_id),
          peers_(std::move(peers)) {}

    std::optional<Heartbeat> accept(const std::uint8_t* data, std::size_t size,
                                    const WireAddress& source);

    const DropCounters& drops() const { return drops_; }
    std::uint64_t accepted() const { return accepted_; }

  private:
    SecretKey key_;
    std::uint32_t cluster_id_;
    std::uint32_t own_node_id_;
    std::vector<WireAddress> peers_;
    ReplayGuard guard_;
    DropCounters drops_;
    std::uint64_t accepted_ = 0;
};

}  // namespace ha_heartbeat
