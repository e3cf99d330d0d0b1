// The sequencing of planned moves, for every address group of one node: a handover asked on
// the status page or owed to a returning higher-ranked node, and a planned stop. Each drains
// first (drain_policy.h), then moves: a handover asks the election to hand over and waits for
// the addresses to be released (or calls the move off when the successor never claims); a stop
// waits until every group this node holds has drained, then resigns every election, waits for
// the successors to claim, lingers and releases. A group that stops being master meanwhile
// ends its drain. Pure: what the host does (the drain gate, the connection count, the
// addresses, sending a heartbeat) goes through GroupHost and NodeHost, so the heartbeat
// process (os/heartbeat_process.cpp) and the simulated cluster run the same sequence.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "clock.h"
#include "drain_policy.h"
#include "election.h"
#include "log_sink.h"

namespace ha_heartbeat {

// One address group on the host (os/: DrainGate and AddressHolder).
class GroupHost {
  public:
    virtual ~GroupHost() = default;
    // Holds back new connections to the group's addresses; "" or why it could not.
    virtual std::string close_to_new_connections() = 0;
    virtual void reopen() = 0;
    virtual bool closed() const = 0;
    // Connections a move would break; negative when they could not be counted.
    virtual int open_connections() const = 0;
    // Whether the group's addresses are on this node (they linger a while after a yield).
    virtual bool holding() const = 0;
    virtual void release() = 0;
    // While on, the group's addresses are not announced (burst, refresh, re-announcement): the
    // successor is about to announce, and one more of ours after its claim would send its
    // clients back here, where their connections are reset. A claim turns it off.
    virtual void hold_announcements(bool on) = 0;
};

// The node's side of a planned move.
class NodeHost {
  public:
    virtual ~NodeHost() = default;
    // A heartbeat now: a handover or a resignation changes what the next one says.
    virtual void send_now() = 0;
    // The service addresses (bits of HaConfig::service_addresses) whose keep-alive clients
    // are told to close (move_signals.h).
    virtual void set_draining(std::uint32_t address_mask) = 0;
};

// What a group's addresses do on a state change: claimed before anyone is told, released
// after. Yielding to another master keeps them release_linger() longer, for the requests sent
// before its announcement arrived, unless a planned move drained every connection first
// (`drained_move`: DrainPolicy::drained()); in FAULT (or INIT) there is nothing to gain by
// waiting.
enum class AddressStep { kNone, kClaim, kReleaseAfterLinger, kReleaseNow };
AddressStep address_step(const Transition& t, bool drained_move);

class PlannedMoves {
  public:
    PlannedMoves(nanoseconds drain_timeout, nanoseconds interval, const Clock& clock,
                 NodeHost& node, LogFn log);

    // In the elections' order; `prefix` starts the group's log lines ("" with one group).
    void add_group(Election& election, GroupHost& host, std::uint32_t key,
                   std::uint32_t address_mask, std::string prefix);

    // A handover asked on the status page: of group `key`, or of every group this node holds
    // (0: "drain this node").
    void on_handover_request(std::uint32_t key);
    // Each pass of the loop, in this order (a handover asked this pass drains before it is
    // advanced): a higher-ranked node back for a group starts a handover drain; then the drains
    // advance.
    void check_preempting_returns();
    void advance();

    // A stop: true once every group this node holds has drained for it (or holds nothing to
    // drain); starts the drains that have not begun. A handover already moving is left to
    // finish.
    bool drained_for_stop();
    // Resigns every election (the best backups claim at once) and sends the news; then
    // resign_progress() until kDone: the addresses are kept until the successors have claimed
    // (at most resign_wait()), then linger release_linger() (not when every group held had
    // drained every connection) and are released.
    enum class ResignPhase { kAwaitingSuccessors, kLingering, kDone };
    void resign();
    ResignPhase resign_progress();
    nanoseconds linger_end() const { return linger_end_; }
    // Every drain ended and every gate reopened (the stop is done, or the loop ends).
    void end_drains();

    bool drain_active(std::size_t group) const { return groups_[group].drain.active(); }
    const DrainPolicy& drain(std::size_t group) const { return groups_[group].drain; }
    // The last handover's outcome, for the status page.
    const std::string& handover_result() const { return handover_result_; }

  private:
    struct Group {
        Election* election;
        GroupHost* host;
        std::uint32_t key;
        std::uint32_t address_mask;
        std::string prefix;
        DrainPolicy drain;

        bool master() const { return election->state() == NodeState::kMaster; }
        bool holding_as_master() const { return master() && host->holding(); }
    };

    bool drains() const { return drain_timeout_.count() > 0; }
    void begin_drain(Group& g, MoveKind kind);
    void end_drain(Group& g);
    void hand_over(Group& g);
    void refuse_handover(const std::string& why);
    void check_preempting_return(Group& g);
    void advance(Group& g);
    void advance_drain(Group& g);
    void advance_handover_move(Group& g);
    bool successors_are_master() const;
    bool held_all_drained() const;
    void release_held(bool successors_seen);
    std::uint32_t draining_mask() const;

    const nanoseconds drain_timeout_;
    const nanoseconds interval_;
    const Clock& clock_;
    NodeHost& node_;
    const LogFn log_;
    std::vector<Group> groups_;
    std::string handover_result_;
    // The resignation under way: the groups held when it began, and its deadlines.
    ResignPhase resign_phase_ = ResignPhase::kDone;
    std::vector<std::size_t> resign_held_;
    nanoseconds resign_deadline_{0};
    nanoseconds linger_end_{0};
};

}  // namespace ha_heartbeat
