#pragma once
// A master's board with one live peer and two addresses (one held), for the tests of what the
// status page and the metrics page render from it.
#include "status_board.h"

namespace ha_heartbeat {

inline BoardData master_board() {
    BoardData d{};
    copy_text(d.node_name, "alpha");
    d.node_id = 7;
    d.state = static_cast<std::uint8_t>(NodeState::kMaster);
    d.configured_priority = 200;
    d.effective_priority = 180;
    d.interval_ns = 100'000'000;
    d.dead_interval_ns = 400'000'000;
    d.transitions = 3;
    d.last_transition_ns = 500'000'000;
    d.sent = 1234;
    d.accepted = 1200;
    d.drops.bad_mac = 4;
    d.drops.replayed = 2;
    d.peer_count = 1;
    d.peers[0].node_id = 9;
    copy_text(d.peers[0].address, "10.231.0.2:694");
    d.peers[0].state = static_cast<std::uint8_t>(NodeState::kBackup);
    d.peers[0].priority = 100;
    d.peers[0].live = 1;
    d.peers[0].last_seen_ns = 1'000'000'000;
    d.peers[0].longest_silence_ns = 23'400'000;
    d.address_count = 2;
    copy_text(d.addresses[0].text, "10.231.0.100/24");
    copy_text(d.addresses[0].interface, "eth0");
    d.addresses[0].held = 1;
    copy_text(d.addresses[0].group, "10.231.0.100/24");
    d.addresses[0].group_state = static_cast<std::uint8_t>(NodeState::kMaster);
    d.addresses[0].group_priority = 250;
    d.addresses[0].home = 1;
    d.addresses[0].holder_node_id = 7;
    // Active-active: the second address is the peer's (its own election, this node a backup).
    copy_text(d.addresses[1].text, "10.231.0.101/24");
    copy_text(d.addresses[1].interface, "eth0");
    copy_text(d.addresses[1].group, "10.231.0.101/24");
    d.addresses[1].group_index = 1;
    d.addresses[1].group_state = static_cast<std::uint8_t>(NodeState::kBackup);
    d.addresses[1].group_priority = 42;
    d.addresses[1].holder_node_id = 9;
    d.group_count = 2;
    d.updated_ns = 1'200'000'000;
    d.longest_send_gap_ns = 12'500'000;
    d.pauses = 2;
    d.longest_pause_ns = 41'000'000;
    return d;
}

}  // namespace ha_heartbeat
