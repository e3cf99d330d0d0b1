#include "replay_guard.h"

namespace ha_heartbeat {

ReplayGuard::Verdict ReplayGuard::check_and_record(std::uint32_t node_id, std::uint64_t epoch,
                                                   std::uint64_t sequence) {
    Mark* free_slot = nullptr;
    for (Mark& m : marks_) {
        if (m.node_id == node_id) {
            const bool newer = epoch > m.epoch || (epoch == m.epoch && sequence > m.sequence);
            if (!newer) return Verdict::kReplayed;
            m.epoch = epoch;
            m.sequence = sequence;
            return Verdict::kFresh;
        }
        if (m.node_id == 0 && free_slot == nullptr) free_slot = &m;
    }
    if (free_slot == nullptr) return Verdict::kTableFull;
    *free_slot = Mark{node_id, epoch, sequence};
    return Verdict::kFresh;
}

}  // namespace ha_heartbeat
