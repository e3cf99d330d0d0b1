// What the heartbeat process publishes and the status handler (in the request-serving
// children) reads: a fixed-size, trivially copyable record in shared memory, guarded by a
// robust process-shared mutex. The only field children write is the handover request counter.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>

#include "ha_types.h"
#include "heartbeat_receiver.h"
#include "move_signals.h"
#include "shared_mutex.h"

namespace ha_heartbeat {

constexpr std::uint32_t kBoardFormat = 5;
constexpr std::size_t kGroupNameBytes = 64;
constexpr std::size_t kAddressTextBytes = 64;
constexpr std::size_t kReasonBytes = 192;
constexpr std::size_t kInterfaceBytes = 16;
// The handover form's anti-CSRF token: 16 random bytes as hex, drawn when httpd starts.
constexpr std::size_t kHandoverNonceBytes = 16;
constexpr std::size_t kHandoverNonceHex = 2 * kHandoverNonceBytes;

struct BoardPeer {
    std::uint32_t node_id;
    char address[kAddressTextBytes];
    std::uint8_t state;
    std::uint8_t priority;
    std::uint8_t live;
    std::int64_t last_seen_ns;  // CLOCK_MONOTONIC; 0: never
    std::uint64_t boot_epoch;
    std::int64_t longest_silence_ns;  // longest gap between two of its heartbeats heard
};

struct BoardAddress {
    char text[kAddressTextBytes];
    char interface[kInterfaceBytes];
    std::uint8_t held;
    // Its address group (address_groups.h): each group has an election of its own.
    char group[kGroupNameBytes];
    std::uint32_t group_key;
    std::uint8_t group_index;
    std::uint8_t group_state;      // this node's state in the group's election
    std::uint8_t group_priority;   // this node's effective priority in it
    std::uint8_t home;             // this node is the group's first choice
    std::uint32_t holder_node_id;  // who holds it as this node sees it; 0: nobody
};

// The node's own states over the recent past, for the status page's timeline: one entry per
// state entered, oldest overwritten first.
constexpr std::size_t kStateHistory = 64;
struct BoardStateChange {
    std::int64_t time_ns;  // CLOCK_MONOTONIC
    std::uint8_t state;
};

struct BoardData {
    std::uint32_t format;
    std::int32_t heartbeat_pid;
    char node_name[kMaxNodeNameBytes];
    std::uint32_t node_id;
    std::uint8_t state;
    std::int32_t configured_priority;
    std::int32_t effective_priority;
    std::int64_t interval_ns;
    std::int64_t dead_interval_ns;
    std::uint8_t preempt;
    std::uint64_t boot_epoch;
    std::uint64_t transitions;
    std::int64_t last_transition_ns;
    char last_reason[kReasonBytes];
    std::uint64_t sent;
    std::uint64_t accepted;
    DropCounters drops;
    std::uint32_t peer_count;
    BoardPeer peers[kMaxPeers];
    std::uint32_t address_count;
    BoardAddress addresses[kMaxServiceAddresses];
    std::uint32_t group_count;
    std::int64_t updated_ns;
    std::uint64_t handover_requests;  // incremented by the status handler
    std::uint32_t handover_group;     // with it: the group asked for; 0: every group held
    std::uint64_t handover_seen;      // requests the heartbeat process has acted on
    char handover_result[kReasonBytes];
    // Written by httpd's parent at start (before any child exists), read by the status handler;
    // the heartbeat process never touches it. Only in the HTML page, never in the JSON.
    char handover_nonce[kHandoverNonceHex + 1];
    BoardStateChange history[kStateHistory];
    std::uint32_t history_count;  // entries held, up to kStateHistory
    std::uint32_t history_next;   // where the next entry goes
    // Episodes the log reports with one line each, counted here.
    std::uint64_t split_brain_episodes;  // another node also claimed master
    std::uint64_t reannouncements;       // announcements repeated because of one
    std::uint64_t rejected_episodes;     // runs of rejected datagrams
    // How well this node itself kept time: at 10 ms these say whether a failover was near
    // because a peer fell silent or because this node (or the machine) was not running.
    std::int64_t longest_send_gap_ns;  // longest time between two heartbeats sent
    std::int64_t longest_pause_ns;     // longest wait that ended later than asked, by how much
    std::uint64_t pauses;              // waits that ended over kPauseThreshold late
};

// Records `state` entered at `time_ns` unless it is the state already last recorded.
inline void record_state(BoardData& d, std::uint8_t state, std::int64_t time_ns) {
    if (d.history_count > 0) {
        const std::uint32_t last = (d.history_next + kStateHistory - 1) % kStateHistory;
        if (d.history[last].state == state) return;
    }
    d.history[d.history_next] = BoardStateChange{time_ns, state};
    d.history_next = static_cast<std::uint32_t>((d.history_next + 1) % kStateHistory);
    if (d.history_count < kStateHistory) ++d.history_count;
}
static_assert(std::is_trivially_copyable<BoardData>::value, "board lives in shared memory");

struct StatusBoard {
    suite::SharedMutex mutex;
    BoardData data;
    MoveSignals moves;
};

// Copies `text` into a fixed field, always NUL-terminated, truncating.
template <std::size_t N>
void copy_text(char (&field)[N], const std::string& text) {
    const std::size_t n = text.size() < N - 1 ? text.size() : N - 1;
    std::memcpy(field, text.data(), n);
    field[n] = '\0';
}

}  // namespace ha_heartbeat
