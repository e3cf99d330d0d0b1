// The typed configuration of one node, parsed once from the directives with units applied, and
// the parsers the directive handlers use. No httpd headers: the glue only forwards strings.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "duration.h"
#include "election.h"
#include "ha_types.h"
#include "wire_codec.h"

namespace ha_heartbeat {

struct IpAddress {
    int family = 0;                        // AF_INET or AF_INET6
    std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4 bytes

    WireAddress wire() const;
    std::string text() const;
    bool operator==(const IpAddress& o) const { return family == o.family && bytes == o.bytes; }
};

struct Endpoint {
    IpAddress address;
    std::uint16_t port = kDefaultPort;
    std::string text() const;
};

struct ServiceAddress {
    IpAddress address;
    int prefix_length = 0;
    std::string interface;
    std::string group;                // group=: addresses that move together (address_groups.h)
    std::vector<std::string> prefer;  // prefer=: node names, best first
    std::string text() const;         // "10.0.0.1/24"
};

struct HealthTrack {
    enum class Kind { kCommand, kFile } kind = Kind::kCommand;
    std::string target;
    int weight = 0;  // 0: a failure puts the node in FAULT; otherwise lowers the priority by it
};

constexpr int kDefaultGratuitousArpCount = 5;
constexpr int kMaxGratuitousArpCount = 100;
constexpr nanoseconds kDefaultTrackInterval = std::chrono::seconds(1);
// Kernel address lifetimes count in whole seconds; this is how long a holder that stops
// renewing (killed with SIGKILL) keeps answering for the address.
constexpr std::chrono::seconds kDefaultAddressLifetime{2};
constexpr std::chrono::seconds kMinAddressLifetime{1};
constexpr std::chrono::seconds kMaxAddressLifetime{3600};
constexpr std::size_t kMaxSecretBytes = 4096;
// HMAC-SHA256 with a guessable key is no authentication: 16 bytes (128 bits if random) at least.
constexpr std::size_t kMinSecretBytes = 16;
// The system user the heartbeat process runs as (HAUser): its own, so that a compromised
// request-serving child (the httpd User) cannot signal or ptrace it, nor read its memory.
constexpr const char* kDefaultHaUser = "haheartbeat";
constexpr std::uint32_t kDefaultClusterId = 1;
// HADrainTimeout: how long a planned move waits for the connections on the service addresses
// to end before the successor may announce.
constexpr nanoseconds kDefaultDrainTimeout = std::chrono::seconds(2);
constexpr nanoseconds kMaxDrainTimeout = std::chrono::seconds(60);
// Beyond the drain timeout, the intervals a returning better node waits for the lower master's
// handover before preempting by itself: the drain's end, the handover heartbeat, scheduling.
constexpr int kPreemptHandoverMarginIntervals = 10;
// HARealtime: the heartbeat process's SCHED_RR priority (1..99). Low in the real-time range:
// above every normal process, below the kernel's own real-time threads (priority 50).
constexpr int kDefaultRealtimePriority = 10;
constexpr int kMaxRealtimePriority = 99;

struct HaConfig {
    bool enabled = false;
    std::string node_name;
    int priority = 100;
    std::uint32_t cluster_id = kDefaultClusterId;
    bool listen_set = false;
    Endpoint listen;
    std::vector<Endpoint> peers;
    nanoseconds interval = kDefaultInterval;
    nanoseconds dead_interval{0};
    bool preempt = true;
    nanoseconds preempt_delay{0};
    std::vector<ServiceAddress> service_addresses;
    // Only the path: the key itself is read by the heartbeat process (before it drops its
    // privileges), so it is not in the memory of httpd's parent or request-serving children.
    std::string secret_file;
    std::string user = kDefaultHaUser;  // HAUser
    bool user_resolved = false;         // set with user_id/group_id by resolve_user
    std::uint32_t user_id = 0;
    std::uint32_t group_id = 0;
    std::string notify_command;
    std::vector<HealthTrack> tracks;
    nanoseconds track_interval = kDefaultTrackInterval;
    // HATrackBalancers: while a balancer has no usable member, lower the priority by this
    // weight (0: go to FAULT). Off unless track_balancers.
    bool track_balancers = false;
    int balancer_weight = 0;
    int gratuitous_arp_count = kDefaultGratuitousArpCount;
    nanoseconds gratuitous_arp_refresh{0};  // 0: announce only when taking over
    std::chrono::seconds address_lifetime = kDefaultAddressLifetime;
    std::string epoch_file;
    nanoseconds drain_timeout = kDefaultDrainTimeout;  // 0: planned moves do not drain
    int realtime_priority = kDefaultRealtimePriority;  // HARealtime; 0: off

    std::uint32_t node_id() const;
    // The election of one address group (address_groups.h): its own priority.
    ElectionConfig election(int group_priority) const;
};

// FNV-1a of the node name; never 0 (0 marks "no node" on the wire).
std::uint32_t node_id_for(std::string_view name);

suite::Parsed<IpAddress> parse_ip(std::string_view text);
// "a.b.c.d[:port]" or "[v6][:port]" or a bare v6 address.
suite::Parsed<Endpoint> parse_endpoint(std::string_view text, std::uint16_t default_port);
// "<ip>/<prefix>" with the interface given separately.
suite::Parsed<ServiceAddress> parse_service_address(std::string_view cidr, std::string_view ifname);

// Reads the shared key: refused when missing, not a regular file, empty, shorter than
// kMinSecretBytes, larger than kMaxSecretBytes, or accessible by group or others. Trailing
// newlines are not part of the key. Every buffer that held the key is wiped.
suite::Parsed<SecretKey> read_secret_file(const std::string& path);

// Looks up HAUser in the system's user database: refused when unknown or root. Returns ""
// and fills user_id/group_id (the user's primary group), or a message naming the directive.
std::string resolve_user(HaConfig* c);

// The checks that need every directive: returns "" or a message naming the directive.
std::string validate(const HaConfig& c);

}  // namespace ha_heartbeat
