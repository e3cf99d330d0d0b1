// Vocabulary shared by the heartbeat core: node states, priorities, limits and defaults.
#pragma once

#include <chrono>
#include <cstdint>

namespace ha_heartbeat {

using std::chrono::milliseconds;
using std::chrono::nanoseconds;

// The states of a node. The numeric values travel on the wire; never renumber them.
enum class NodeState : std::uint8_t { kInit = 0, kBackup = 1, kMaster = 2, kFault = 3 };
constexpr std::uint8_t kLastState = static_cast<std::uint8_t>(NodeState::kFault);

const char* state_name(NodeState s);

// Priorities as in VRRP: 1..254 are configurable, 0 means "resigning, do not count me", and 255
// is kept free so that a future "address owner" meaning does not clash with configured values.
constexpr int kMinPriority = 1;
constexpr int kMaxPriority = 254;
constexpr std::uint8_t kResignPriority = 0;

// Table sizes: the shared status segment and the replay guard are fixed-size, so a flood of
// messages naming new node ids can never grow memory.
constexpr std::size_t kMaxPeers = 16;
constexpr std::size_t kMaxServiceAddresses = 16;
// Each group of service addresses has an election of its own (active-active): at most one group
// per address.
constexpr std::size_t kMaxAddressGroups = kMaxServiceAddresses;
constexpr std::size_t kMaxNodeNameBytes = 64;

constexpr nanoseconds kDefaultInterval = milliseconds(100);
constexpr nanoseconds kMinInterval = milliseconds(10);
constexpr nanoseconds kMaxInterval = std::chrono::seconds(10);
// A peer is dead after this many intervals without a heartbeat (plus the priority skew).
constexpr int kDefaultDeadIntervals = 3;
constexpr std::uint16_t kDefaultPort = 694;  // the port Linux-HA heartbeat used

}  // namespace ha_heartbeat
