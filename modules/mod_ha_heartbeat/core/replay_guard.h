// Per-peer (boot epoch, sequence) high-water marks. A message is fresh only if it is strictly
// newer than everything already accepted from that node: a later epoch (the node restarted) or
// the same epoch with a higher sequence. Replays, duplicates and reordered stale messages all
// fail that test. Checked only after the MAC, so only authenticated senders move a mark.
#pragma once

#include <array>
#include <cstdint>

#include "ha_types.h"

namespace ha_heartbeat {

class ReplayGuard {
  public:
    enum class Verdict { kFresh, kReplayed, kTableFull };

    // Records (epoch, sequence) for `node_id` when fresh.
    Verdict check_and_record(std::uint32_t node_id, std::uint64_t epoch, std::uint64_t sequence);

  private:
    struct Mark {
        std::uint32_t node_id = 0;  // 0: unused (node id 0 is invalid on the wire)
        std::uint64_t epoch = 0;
        std::uint64_t sequence = 0;
    };
    std::array<Mark, kMaxPeers> marks_{};
};

}  // namespace ha_heartbeat
