// Which node holds which service address (active-active on 2 to kMaxPeers nodes).
//
// The service addresses fall into groups (`HAServiceAddress ... group=<name>`; an address
// without one is a group of its own). Each group runs an Election of its own over the same
// heartbeats, so every rule of election.h (one holder, split brain, handover, preempt, resign)
// holds per group; what differs between groups is this node's priority for each:
//   - one group only: HAPriority (the classic active/standby pair, unchanged);
//   - a group with `prefer=<node>,<node>...`: the nodes named, best first, as keepalived's
//     crossed instances with their priorities, from one list that every node reads alike (a
//     synced configuration); a node not named ranks below every named one;
//   - otherwise spread: the nodes are numbered by their heartbeat address (HAListen and the
//     HAPeer addresses, sorted: the same numbering on every node), group i's home is node
//     i mod N, and the other nodes follow in a rotation (address_groups.cc) such that the groups
//     of a failed node go to different survivors, one each before any takes a second. A
//     node's failure moves only its own groups; its return (preempt on) moves back only the
//     groups whose home it is: the fewest that restore an even spread.
// A health penalty (HATrack weight) lowers every group's priority alike.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "ha_config.h"

namespace ha_heartbeat {

// Priorities the placement hands out (1..254, as VRRP's). Home and the first preferred node sit
// well above every other, so that a health penalty below their distance keeps them in place.
constexpr int kHomePriority = 250;
constexpr int kPreferStep = 10;
constexpr int kOtherPriorityLow = 20;   // nodes that are neither home nor preferred rank in
constexpr int kOtherPriorityHigh = 99;  // this range

struct AddressGroup {
    std::string name;
    std::uint32_t key = 0;               // group_key(name): what the heartbeats carry
    std::vector<std::size_t> addresses;  // indices into HaConfig::service_addresses
    int priority = 0;                    // this node's election priority for the group
    bool home = false;                   // this node is the group's first choice
};

// FNV-1a of the group's name; never 0 (0 marks an unused entry on the wire).
std::uint32_t group_key(std::string_view name);

// The groups in the order their first address appears in the configuration.
std::vector<AddressGroup> plan_groups(const HaConfig& c);

// What starts a log line about group `g`: "address <name>: " or "group <name>: ", and nothing
// when the node has one group only (several: it has more).
std::string group_log_prefix(const AddressGroup& g, bool several);

// The "spread" numbering: this node's position among HAListen and the HAPeer addresses,
// sorted, and how many nodes that makes.
struct NodeOrdinal {
    std::size_t index = 0;
    std::size_t count = 1;
};
NodeOrdinal node_ordinal(const HaConfig& c);

// Parses the options after `HAServiceAddress <cidr> <interface>`: `group=<name>` and
// `prefer=<node>[,<node>...]`. Returns "" or what is wrong.
std::string apply_service_address_option(std::string_view option, ServiceAddress* a);

}  // namespace ha_heartbeat
