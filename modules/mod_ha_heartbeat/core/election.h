// The election: which node of the cluster holds the service addresses.
//
// Every node sends a heartbeat each interval with its state and effective priority. A node ranks
// above another when its (effective priority, node id) pair is larger, so ranks are a total
// order and ties cannot happen. The rules, evaluated after every event:
//   BACKUP -> MASTER  when no live peer is MASTER and no live candidate outranks this node
//                     (after a first dead interval of listening at startup);
//                     or, with preempt on, when every live master ranks below this node and that
//                     has held for the preempt delay;
//                     or when the live master hands over to this node.
//   MASTER -> BACKUP  when a live peer MASTER outranks this node (two masters after a partition
//                     heals: the lower yields on the first heartbeat it hears), unless that peer
//                     is handing over to this node; or when the node this master handed over to
//                     has become MASTER.
//   any    -> FAULT   when health tracking fails hard; FAULT -> BACKUP when it recovers.
// A peer is live while its last heartbeat is younger than the dead interval: kDefaultDeadIntervals
// of the larger of both intervals (or HADeadInterval), plus a skew (up to a quarter interval) that
// grows as this node's priority falls, so the best backup is the first to give up on a dead
// master. A heartbeat with
// priority 0 means "resigning": the sender no longer counts, so its successor claims at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "clock.h"
#include "ha_types.h"
#include "wire_codec.h"

namespace ha_heartbeat {

struct ElectionConfig {
    std::uint32_t node_id = 0;
    int priority = 100;
    nanoseconds interval = kDefaultInterval;
    nanoseconds dead_interval{0};  // 0: kDefaultDeadIntervals x interval
    bool preempt = true;
    nanoseconds preempt_delay{0};
    // How long a preempting backup waits, after the preempt delay, for the lower master to
    // drain and hand over to it before it claims by itself (0: at once). The lower master, with
    // preempt on, starts that drain after its own preempt delay (should_yield_to_backup()).
    nanoseconds preempt_handover_wait{0};
};

struct Transition {
    NodeState from;
    NodeState to;
    std::string reason;
};

struct PeerView {
    std::uint32_t node_id = 0;
    NodeState state = NodeState::kInit;
    std::uint8_t priority = 0;
    std::uint32_t handover_to = 0;
    nanoseconds interval{0};
    nanoseconds last_seen{0};
    // The longest gap between two of its heartbeats that this node heard (local pauses
    // excepted, see on_local_pause), for the status page: how close it came to a failover.
    nanoseconds longest_silence{0};
    std::uint64_t boot_epoch = 0;
    bool live = false;  // as of the last evaluation
};

class Election {
  public:
    Election(const ElectionConfig& config, const Clock& clock);

    // INIT -> BACKUP; the startup listening period begins.
    std::optional<Transition> start();
    // An authenticated, fresh heartbeat from a peer.
    std::optional<Transition> on_heartbeat(const Heartbeat& hb);
    // Timers: call at least a few times per interval.
    std::optional<Transition> tick();
    // This node itself was not running for `pause` (its wait ended that much later than it
    // asked: the machine, a VM or its CPU was stopped). A stopped machine hears nothing, and on
    // one host its peers were stopped too: that time is no evidence that a peer went silent,
    // so every peer's silence (and the startup listening period) is counted without it. The
    // cost: a peer that really died just before the pause is found dead that much later.
    void on_local_pause(nanoseconds pause);
    // Health tracking: `fault` forces FAULT; `penalty` lowers the effective priority.
    std::optional<Transition> set_health(bool fault, int penalty, const std::string& reason);
    // Planned stop: from now on this node advertises priority 0 and claims nothing.
    void resign();
    // A live peer other than this node has become MASTER (used to release after resigning).
    bool successor_is_master() const;
    // Master only: hand the addresses to the best live backup. Returns the reason when refused.
    std::optional<std::string> request_handover();
    // Why request_handover() would refuse now, without acting (a planned move drains first).
    std::optional<std::string> handover_refusal() const;

    // Master with preempt on: a live backup has outranked this node for the preempt delay (a
    // higher-priority node came back). The glue drains, then hands over to it, so the return
    // is a planned move.
    bool should_yield_to_backup() const;

    // The fields of the next heartbeat (the sender adds cluster, epoch and sequence).
    Heartbeat outgoing() const;

    NodeState state() const { return state_; }
    bool resigning() const { return resigning_; }
    int effective_priority() const;
    std::uint32_t handover_target() const { return handover_target_; }
    nanoseconds dead_interval_for(nanoseconds peer_interval) const;
    const std::vector<PeerView>& peers() const { return peers_; }

  private:
    bool outranks_me(const PeerView& p) const;
    const PeerView* best_backup() const;  // the live backup a handover would go to
    bool is_live(const PeerView& p, nanoseconds now) const;
    // What the live peers say, for one evaluation.
    struct Survey {
        const PeerView* best_master = nullptr;  // the highest-ranked live master peer
        const PeerView* handing_to_me = nullptr;
        bool better_candidate = false;  // a live, counting peer outranks this node
    };
    Survey survey() const;
    std::optional<Transition> evaluate();
    std::optional<Transition> evaluate_master(const Survey& s, nanoseconds now);
    std::optional<Transition> evaluate_backup(const Survey& s, nanoseconds now);
    std::optional<Transition> become(NodeState to, std::string reason);
    std::string describe(const PeerView& p) const;
    std::string claim_reason(nanoseconds now) const;

    ElectionConfig config_;
    const Clock& clock_;
    NodeState state_ = NodeState::kInit;
    std::vector<PeerView> peers_;
    nanoseconds started_at_{0};
    nanoseconds preempt_since_{-1};
    nanoseconds better_backup_since_{-1};  // master: since when a live backup outranks it
    // Master by handover from this node: it asked for the move, so it is no returning better
    // node to hand back to (until it goes away).
    std::uint32_t handed_over_from_ = 0;
    nanoseconds handover_started_{0};
    std::uint32_t handover_target_ = 0;
    bool handover_yield_ = false;      // after handing over, do not preempt the new master
    bool handover_to_better_ = false;  // the handover under way goes to a higher-ranked node
    bool resigning_ = false;
    bool heard_master_ = false;  // since start (or since leaving FAULT)
    bool health_fault_ = false;
    int health_penalty_ = 0;
};

}  // namespace ha_heartbeat
