// The elections of one node's address groups (address_groups.h), fed from one heartbeat
// stream: each heartbeat carries one entry per group of its sender, and each group's election
// sees the sender as if it were a node of that group alone. A sender without an entry for a
// group (its configuration lacks it) takes no part in that group's election.
#pragma once

#include <memory>
#include <optional>
#include <vector>

#include "address_groups.h"
#include "election.h"

namespace ha_heartbeat {

class GroupElections {
  public:
    GroupElections(const HaConfig& config, std::vector<AddressGroup> groups, const Clock& clock);

    std::size_t size() const { return elections_.size(); }
    Election& election(std::size_t i) { return *elections_[i]; }
    const Election& election(std::size_t i) const { return *elections_[i]; }
    const AddressGroup& group(std::size_t i) const { return groups_[i]; }
    // The group with this key, or size() when this node has none.
    std::size_t find(std::uint32_t key) const;

    // The node's own summary: FAULT when its groups are, MASTER when it holds one, else BACKUP
    // (INIT before start).
    NodeState node_state() const;
    // The heartbeat to send: one entry per group; the header's fields are the first group's
    // with the node's summary state (for one group, exactly that group's election).
    Heartbeat outgoing() const;

  private:
    std::vector<AddressGroup> groups_;
    std::vector<std::unique_ptr<Election>> elections_;
};

// What group `key`'s election hears from `hb`: the header with the group's entry in place of
// its state, priority, flags and handover target. Empty when `hb` has no entry for the group.
std::optional<Heartbeat> group_view(const Heartbeat& hb, std::uint32_t key);

}  // namespace ha_heartbeat
