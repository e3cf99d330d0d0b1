#include "move_sequencer.h"

#include <utility>

#include "loop_rules.h"

namespace ha_heartbeat {
namespace {
long long to_ms(nanoseconds d) {
    return std::chrono::duration_cast<milliseconds>(d).count();
}
}  // namespace

AddressStep address_step(const Transition& t, bool drained_move) {
    if (t.to == NodeState::kMaster) return AddressStep::kClaim;
    if (t.from != NodeState::kMaster) return AddressStep::kNone;
    return t.to == NodeState::kBackup && !drained_move ? AddressStep::kReleaseAfterLinger
                                                       : AddressStep::kReleaseNow;
}

PlannedMoves::PlannedMoves(nanoseconds drain_timeout, nanoseconds interval, const Clock& clock,
                           NodeHost& node, LogFn log)
    : drain_timeout_(drain_timeout),
      interval_(interval),
      clock_(clock),
      node_(node),
      log_(std::move(log)) {}

void PlannedMoves::add_group(Election& election, GroupHost& host, std::uint32_t key,
                             std::uint32_t address_mask, std::string prefix) {
    groups_.push_back(Group{&election, &host, key, address_mask, std::move(prefix),
                            DrainPolicy(drain_timeout_, clock_)});
}

void PlannedMoves::on_handover_request(std::uint32_t key) {
    std::vector<Group*> targets;
    std::string refused;
    for (Group& g : groups_) {
        if (key != 0 && g.key != key) continue;
        if (key == 0 && !g.master()) continue;
        std::optional<std::string> why = g.election->handover_refusal();
        if (!why && g.drain.active()) why = "a planned move is under way";
        if (why)
            refused += (refused.empty() ? "" : "; ") + g.prefix + *why;
        else
            targets.push_back(&g);
    }
    if (targets.empty()) {
        if (refused.empty()) refused = key != 0 ? "no such address group" : "not master";
        refuse_handover(refused);
        return;
    }
    for (Group* g : targets) {
        if (drains()) {
            handover_result_ = "draining, then handing over";
            begin_drain(*g, MoveKind::kHandover);
        } else {
            hand_over(*g);
        }
    }
}

void PlannedMoves::refuse_handover(const std::string& why) {
    handover_result_ = "handover refused: " + why;
    log_(kLogWarning, handover_result_);
}

void PlannedMoves::hand_over(Group& g) {
    g.host->hold_announcements(true);
    if (auto refused = g.election->request_handover()) {
        if (!g.drain.active()) g.host->hold_announcements(false);
        refuse_handover(g.prefix + *refused);
        return;
    }
    handover_result_ =
        g.prefix + "handing over to node " + std::to_string(g.election->handover_target());
    log_(kLogNotice, handover_result_);
    node_.send_now();
}

std::uint32_t PlannedMoves::draining_mask() const {
    std::uint32_t mask = 0;
    for (const Group& g : groups_)
        if (g.drain.active() || g.host->closed()) mask |= g.address_mask;
    return mask;
}

// No new connections on the group's service addresses, keep-alive clients told to close; the
// successor announces only once the connections have ended or the drain timeout has passed.
void PlannedMoves::begin_drain(Group& g, MoveKind kind) {
    const bool first = !g.drain.active();
    g.drain.begin(kind);
    if (!first) return;
    // Measured: a re-announcement burst begun when the successor came back still ran after the
    // successor's claim, sent its clients back here and 1-2 of their new connections were
    // reset (wrk read errors in the return under load).
    g.host->hold_announcements(true);
    const std::string err = g.host->close_to_new_connections();
    if (!err.empty())
        log_(kLogWarning, g.prefix + "draining: cannot hold back new connections (" + err +
                              "); those opened meanwhile are reset when the addresses move");
    node_.set_draining(draining_mask());
    log_(kLogNotice, g.prefix + "planned " + move_name(kind) +
                         ": draining the connections on the service addresses (at most " +
                         std::to_string(to_ms(drain_timeout_)) + " ms)");
}

void PlannedMoves::end_drain(Group& g) {
    if (!g.drain.active() && !g.host->closed()) return;
    g.host->hold_announcements(false);  // a called-off move keeps serving and announcing
    g.host->reopen();
    g.drain.finish();
    node_.set_draining(draining_mask());
}

void PlannedMoves::end_drains() {
    for (Group& g : groups_) end_drain(g);
}

void PlannedMoves::check_preempting_returns() {
    for (Group& g : groups_) check_preempting_return(g);
}

// A higher-priority node is back and this master has preempt on: a planned move to it.
void PlannedMoves::check_preempting_return(Group& g) {
    if (g.drain.active() || !drains() || !g.election->should_yield_to_backup()) return;
    handover_result_ = g.prefix + "a higher-ranked node is back: draining, then handing over";
    log_(kLogNotice, handover_result_);
    begin_drain(g, MoveKind::kHandover);
}

void PlannedMoves::advance() {
    for (Group& g : groups_) advance(g);
}

void PlannedMoves::advance(Group& g) {
    if (!g.drain.active()) {
        // A handover without a drain (HADrainTimeout off) that came to nothing: this node
        // serves on and announces again.
        if (g.master() && g.election->handover_target() == 0) g.host->hold_announcements(false);
        return;
    }
    if (g.drain.phase() == DrainPolicy::Phase::kDraining)
        advance_drain(g);
    else if (g.drain.kind() == MoveKind::kHandover)
        advance_handover_move(g);
    // A stop that has drained waits for drained_for_stop(): it resigns once every group is.
}

void PlannedMoves::advance_drain(Group& g) {
    if (!g.master()) {
        // Yielded or failed meanwhile: the addresses are gone or going anyway.
        log_(kLogNotice,
             g.prefix + "planned " + move_name(g.drain.kind()) + ": no longer master, drain ended");
        if (g.drain.kind() == MoveKind::kHandover)
            handover_result_ = g.prefix + "handover overtaken: no longer master";
        end_drain(g);
        return;
    }
    auto why = g.drain.poll(g.host->open_connections());
    if (!why) return;
    log_(kLogNotice, g.prefix + "planned " + move_name(g.drain.kind()) + ": " + *why);
    if (g.drain.kind() != MoveKind::kHandover) return;
    hand_over(g);
    if (g.election->handover_target() == 0) end_drain(g);  // refused: keep serving
}

// Moving after a handover: done once the linger after the successor's claim is over.
void PlannedMoves::advance_handover_move(Group& g) {
    if (!g.host->holding()) {
        end_drain(g);
    } else if (g.master() && g.election->handover_target() == 0) {
        handover_result_ = g.prefix + "handover called off: the backup never claimed";
        log_(kLogWarning, handover_result_ + "; keeping the service addresses");
        end_drain(g);
    }
}

bool PlannedMoves::drained_for_stop() {
    bool ready = true;
    for (Group& g : groups_) {
        const bool stop_drained = g.drain.active() && g.drain.kind() == MoveKind::kStop &&
                                  g.drain.phase() == DrainPolicy::Phase::kMoving;
        if (stop_drained) continue;
        if (g.holding_as_master() && drains() && !g.election->resigning()) {
            // A handover already moving is left to finish; the stop resigns after it.
            if (!g.drain.active() || g.drain.phase() == DrainPolicy::Phase::kDraining)
                begin_drain(g, MoveKind::kStop);
            ready = false;
        } else if (g.drain.active()) {
            ready = false;
        }
    }
    return ready;
}

void PlannedMoves::resign() {
    resign_held_.clear();
    for (std::size_t i = 0; i < groups_.size(); ++i)
        if (groups_[i].holding_as_master()) resign_held_.push_back(i);
    if (!groups_.front().election->resigning())
        log_(kLogNotice,
             std::string("stopping: resigning") + (resign_held_.empty() ? "" : " as master"));
    for (Group& g : groups_) g.election->resign();
    node_.send_now();
    resign_phase_ = resign_held_.empty() ? ResignPhase::kDone : ResignPhase::kAwaitingSuccessors;
    resign_deadline_ = clock_.now() + resign_wait(interval_);
}

bool PlannedMoves::successors_are_master() const {
    for (std::size_t i : resign_held_)
        if (!groups_[i].election->successor_is_master()) return false;
    return true;
}

PlannedMoves::ResignPhase PlannedMoves::resign_progress() {
    const auto now = clock_.now();
    if (resign_phase_ == ResignPhase::kAwaitingSuccessors) {
        if (successors_are_master() && held_all_drained()) {
            release_held(true);  // after a drain that closed every connection: none in flight
        } else if (successors_are_master()) {
            // As when yielding: the successor has announced; linger for requests in flight.
            resign_phase_ = ResignPhase::kLingering;
            linger_end_ = now + release_linger(interval_);
        } else if (now >= resign_deadline_) {
            release_held(false);
        }
    }
    if (resign_phase_ == ResignPhase::kLingering && now >= linger_end_) release_held(true);
    return resign_phase_;
}

bool PlannedMoves::held_all_drained() const {
    for (std::size_t i : resign_held_)
        if (!groups_[i].drain.drained()) return false;
    return true;
}

void PlannedMoves::release_held(bool successors_seen) {
    for (std::size_t i : resign_held_) groups_[i].host->release();
    log_(kLogNotice, std::string("released the service addresses; ") +
                         (successors_seen ? "a successor is master" : "no successor seen") +
                         (groups_.size() > 1 && !successors_seen ? " for every group" : ""));
    resign_phase_ = ResignPhase::kDone;
}

}  // namespace ha_heartbeat
