// The heartbeat message: a fixed-size, versioned binary record authenticated with HMAC-SHA256.
//
// Layout (network byte order), kWireSize bytes in all:
//   0  magic "HAHB"        4   version          5  state          6  priority
//   7  flags               8   cluster id (32)  12 node id (32)   16 interval in us (32)
//   20 handover target node id (32)            24 boot epoch (64) 32 sequence (64)
//   40 challenge (64): random, drawn by the sender at its start, never 0
//   48 echo (64): the latest challenge the sender has received from the addressee; 0: none yet
//   56 address group count (8), 0..kMaxAddressGroups        57 three zero bytes
//   60 kMaxAddressGroups entries of 12 bytes, the first `count` in use, the rest all zero:
//        +0 group key (32, never 0)  +4 state  +5 priority  +6 flags  +7 zero
//        +8 handover target node id (32)
//   252 HMAC-SHA256 over bytes 0..251 followed by the 16-byte source address (IPv4 as
//       ::ffff:a.b.c.d)
// The header's state, priority, flags and handover target sum up the node (MASTER: it holds a
// group); each group of service addresses has its own election, whose fields are the entry's.
// Binding the source address into the MAC means a captured message re-sent from another host
// fails authentication; re-sending it from the same (spoofed) address is caught by the replay
// guard while the receiver runs, and by the challenge echo after the receiver restarted (a
// recorded message echoes a challenge of an earlier run, which the new run never issued).
// Version 2 added challenge and echo; version 3 the address groups (active-active). Older
// versions are refused (BadVersion): every node of a cluster runs the same version.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ha_types.h"

namespace ha_heartbeat {

constexpr std::uint32_t kMagic = 0x48414842;  // "HAHB"
constexpr std::uint8_t kWireVersion = 3;
constexpr std::size_t kFixedHeaderSize = 56;
constexpr std::size_t kGroupEntrySize = 12;
constexpr std::size_t kHeaderSize = kFixedHeaderSize + 4 + kMaxAddressGroups * kGroupEntrySize;
constexpr std::size_t kMacSize = 32;  // SHA-256 output
constexpr std::size_t kWireSize = kHeaderSize + kMacSize;

// Flag bits.
constexpr std::uint8_t kFlagHandover = 0x01;  // the sender (master) hands over to handover_to
constexpr std::uint8_t kKnownFlags = kFlagHandover;

// An IPv6 address or an IPv4-mapped one: the form the MAC covers.
using WireAddress = std::array<std::uint8_t, 16>;
WireAddress wire_address_v4(const std::uint8_t (&v4)[4]);

// One address group's election, as the sender sees it.
struct GroupBeat {
    std::uint32_t key = 0;  // group_key() of the group's name
    NodeState state = NodeState::kInit;
    std::uint8_t priority = 0;
    std::uint8_t flags = 0;
    std::uint32_t handover_to = 0;
};

struct Heartbeat {
    std::uint32_t cluster_id = 0;
    std::uint32_t node_id = 0;
    std::uint8_t priority = 0;
    NodeState state = NodeState::kInit;
    std::uint8_t flags = 0;
    std::uint32_t interval_us = 0;
    std::uint32_t handover_to = 0;
    std::uint64_t boot_epoch = 0;
    std::uint64_t sequence = 0;
    std::uint64_t challenge = 0;  // the sender's per-start random value
    std::uint64_t echo = 0;       // the addressee's challenge as last seen by the sender
    std::uint8_t group_count = 0;
    std::array<GroupBeat, kMaxAddressGroups> groups{};
};

enum class DecodeStatus {
    kOk,
    kWrongSize,     // truncated or oversized datagram
    kBadMagic,      // not one of ours
    kBadVersion,    // a version we do not speak
    kBadMac,        // forged, corrupted, wrong key or wrong source address
    kMalformed,     // authenticated but a field is out of range (or no challenge, or a group
                    // key twice)
    kWrongCluster,  // authenticated, for another cluster sharing the key
};
const char* decode_status_name(DecodeStatus s);

// The shared key. Kept in a std::string so it can be wiped on destruction.
class SecretKey {
  public:
    SecretKey() = default;
    explicit SecretKey(std::string bytes) : bytes_(std::move(bytes)) {}
    ~SecretKey();
    SecretKey(const SecretKey&) = default;
    SecretKey& operator=(const SecretKey&) = default;
    // A moved-from std::string may keep its buffer (short strings): wipe it here too.
    SecretKey(SecretKey&& o) noexcept : bytes_(std::move(o.bytes_)) { o.wipe(); }
    SecretKey& operator=(SecretKey&& o) noexcept {
        if (this != &o) {
            wipe();
            bytes_ = std::move(o.bytes_);
            o.wipe();
        }
        return *this;
    }
    const std::string& bytes() const { return bytes_; }
    // For the reader only, which trims the key in place (no copy left unwiped).
    std::string& mutable_bytes() { return bytes_; }
    bool empty() const { return bytes_.empty(); }

  private:
    void wipe() noexcept;
    std::string bytes_;
};

using WireMessage = std::array<std::uint8_t, kWireSize>;

WireMessage encode(const Heartbeat& hb, const SecretKey& key, const WireAddress& source);

// Never reads outside [data, data + size); `out` is written only when Ok.
DecodeStatus decode(const std::uint8_t* data, std::size_t size, const SecretKey& key,
                    const WireAddress& source, std::uint32_t cluster_id, Heartbeat* out);

}  // namespace ha_heartbeat
