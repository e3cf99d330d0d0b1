#include "group_elections.h"

namespace ha_heartbeat {

GroupElections::GroupElections(const HaConfig& config, std::vector<AddressGroup> groups,
                               const Clock& clock)
    : groups_(std::move(groups)) {
    for (const AddressGroup& g : groups_)
        elections_.push_back(std::make_unique<Election>(config.election(g.priority), clock));
}

std::size_t GroupElections::find(std::uint32_t key) const {
    for (std::size_t i = 0; i < groups_.size(); ++i)
        if (groups_[i].key == key) return i;
    return groups_.size();
}

NodeState GroupElections::node_state() const {
    // FAULT first, whatever the order of the groups: a node in FAULT in one group is unhealthy.
    bool master = false, backup = false;
    for (const auto& e : elections_) {
        if (e->state() == NodeState::kFault) return NodeState::kFault;
        master = master || e->state() == NodeState::kMaster;
        backup = backup || e->state() == NodeState::kBackup;
    }
    return master ? NodeState::kMaster : backup ? NodeState::kBackup : NodeState::kInit;
}

Heartbeat GroupElections::outgoing() const {
    Heartbeat hb;
    for (std::size_t i = 0; i < elections_.size() && i < kMaxAddressGroups; ++i) {
        const Heartbeat g = elections_[i]->outgoing();
        if (i == 0) hb = g;
        GroupBeat& beat = hb.groups[i];
        beat.key = groups_[i].key;
        beat.state = g.state;
        beat.priority = g.priority;
        beat.flags = g.flags;
        beat.handover_to = g.handover_to;
        hb.group_count = static_cast<std::uint8_t>(i + 1);
    }
    hb.state = node_state();
    return hb;
}

std::optional<Heartbeat> group_view(const Heartbeat& hb, std::uint32_t key) {
    for (std::size_t i = 0; i < hb.group_count && i < kMaxAddressGroups; ++i) {
        const GroupBeat& g = hb.groups[i];
        if (g.key != key) continue;
        Heartbeat view = hb;
        view.state = g.state;
        view.priority = g.priority;
        view.flags = g.flags;
        view.handover_to = g.handover_to;
        return view;
    }
    return std::nullopt;
}

}  // namespace ha_heartbeat
