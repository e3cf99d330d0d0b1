#include "election.h"

#include <algorithm>
#include <tuple>

namespace ha_heartbeat {
namespace {

// The skew: (256 - priority) / 256 of a quarter interval, so higher priorities wait less.
// VRRP uses a whole interval because its backups are silent and the skew alone must order them;
// here every backup heartbeats too, so a backup defers to any live better-ranked one anyway and
// the skew only has to order backups that cannot hear each other. A quarter keeps failover
// shorter at the same interval.
constexpr int kSkewPriorityBase = 256;
constexpr int kSkewIntervalDivisor = 4;
// How long a handover may wait for the chosen backup to claim before it is called off.
constexpr int kHandoverTimeoutIntervals = 10;

std::string node_text(std::uint32_t id) {
    return "node " + std::to_string(id);
}

}  // namespace

Election::Election(const ElectionConfig& config, const Clock& clock)
    : config_(config), clock_(clock) {}

int Election::effective_priority() const {
    if (resigning_) return kResignPriority;
    return std::clamp(config_.priority - health_penalty_, kMinPriority, kMaxPriority);
}

nanoseconds Election::dead_interval_for(nanoseconds peer_interval) const {
    const nanoseconds base =
        config_.dead_interval.count() > 0
            ? config_.dead_interval
            : kDefaultDeadIntervals * std::max(config_.interval, peer_interval);
    const int prio = std::clamp(config_.priority - health_penalty_, kMinPriority, kMaxPriority);
    return base + config_.interval * (kSkewPriorityBase - prio) /
                      (kSkewPriorityBase * kSkewIntervalDivisor);
}

bool Election::is_live(const PeerView& p, nanoseconds now) const {
    return now - p.last_seen < dead_interval_for(p.interval);
}

bool Election::outranks_me(const PeerView& p) const {
    return std::make_tuple(int{p.priority}, p.node_id) >
           std::make_tuple(effective_priority(), config_.node_id);
}

std::string Election::describe(const PeerView& p) const {
    return node_text(p.node_id) + " (priority " + std::to_string(p.priority) + ")";
}

std::optional<Transition> Election::become(NodeState to, std::string reason) {
    if (to == state_) return std::nullopt;
    Transition t{state_, to, std::move(reason)};
    state_ = to;
    preempt_since_ = nanoseconds{-1};
    better_backup_since_ = nanoseconds{-1};
    handed_over_from_ = 0;
    if (to != NodeState::kMaster) handover_target_ = 0;
    return t;
}

std::optional<Transition> Election::start() {
    started_at_ = clock_.now();
    if (health_fault_) return become(NodeState::kFault, "started with failing health check");
    return become(NodeState::kBackup, "started; listening for a master");
}

std::optional<Transition> Election::on_heartbeat(const Heartbeat& hb) {
    auto it = std::find_if(peers_.begin(), peers_.end(),
                           [&](const PeerView& p) { return p.node_id == hb.node_id; });
    const bool first = it == peers_.end();
    if (first) {
        if (peers_.size() >= kMaxPeers) return std::nullopt;
        peers_.push_back(PeerView{});
        it = peers_.end() - 1;
        it->node_id = hb.node_id;
    }
    it->state = hb.state;
    it->priority = hb.priority;
    it->handover_to = (hb.flags & kFlagHandover) ? hb.handover_to : 0;
    it->interval = std::chrono::microseconds(hb.interval_us);
    const nanoseconds now = clock_.now();
    if (!first) it->longest_silence = std::max(it->longest_silence, now - it->last_seen);
    it->last_seen = now;
    it->boot_epoch = hb.boot_epoch;
    if (hb.state == NodeState::kMaster) heard_master_ = true;
    return evaluate();
}

std::optional<Transition> Election::tick() {
    return evaluate();
}

void Election::on_local_pause(nanoseconds pause) {
    if (pause.count() <= 0) return;
    const nanoseconds now = clock_.now();
    for (PeerView& p : peers_) p.last_seen = std::min(now, p.last_seen + pause);
    started_at_ = std::min(now, started_at_ + pause);
}

std::optional<Transition> Election::set_health(bool fault, int penalty, const std::string& reason) {
    health_fault_ = fault;
    health_penalty_ = std::max(0, penalty);
    if (state_ == NodeState::kInit) return std::nullopt;
    if (fault && state_ != NodeState::kFault) return become(NodeState::kFault, reason);
    if (!fault && state_ == NodeState::kFault) {
        started_at_ = clock_.now();  // listen for a dead interval again before claiming
        heard_master_ = false;
        return become(NodeState::kBackup, "health restored: " + reason);
    }
    return evaluate();
}

void Election::resign() {
    resigning_ = true;
}

bool Election::successor_is_master() const {
    const nanoseconds now = clock_.now();
    return std::any_of(peers_.begin(), peers_.end(), [&](const PeerView& p) {
        return is_live(p, now) && p.state == NodeState::kMaster && p.priority != kResignPriority;
    });
}

const PeerView* Election::best_backup() const {
    const nanoseconds now = clock_.now();
    const PeerView* best = nullptr;
    for (const PeerView& p : peers_) {
        if (!is_live(p, now) || p.state != NodeState::kBackup || p.priority == kResignPriority)
            continue;
        if (!best ||
            std::make_tuple(p.priority, p.node_id) > std::make_tuple(best->priority, best->node_id))
            best = &p;
    }
    return best;
}

std::optional<std::string> Election::handover_refusal() const {
    if (state_ != NodeState::kMaster) return std::string("this node is not master");
    if (resigning_) return std::string("this node is stopping");
    if (!best_backup()) return std::string("no live backup to hand over to");
    return std::nullopt;
}

std::optional<std::string> Election::request_handover() {
    if (auto refused = handover_refusal()) return refused;
    handover_target_ = best_backup()->node_id;
    handover_to_better_ = outranks_me(*best_backup());
    handover_started_ = clock_.now();
    return std::nullopt;
}

bool Election::should_yield_to_backup() const {
    return state_ == NodeState::kMaster && !resigning_ && handover_target_ == 0 &&
           better_backup_since_.count() >= 0 &&
           clock_.now() - better_backup_since_ >= config_.preempt_delay;
}

Heartbeat Election::outgoing() const {
    Heartbeat hb;
    hb.node_id = config_.node_id;
    hb.priority = static_cast<std::uint8_t>(effective_priority());
    hb.state = state_;
    hb.interval_us = static_cast<std::uint32_t>(
        std::chrono::duration_cast<std::chrono::microseconds>(config_.interval).count());
    if (handover_target_ != 0) {
        hb.flags |= kFlagHandover;
        hb.handover_to = handover_target_;
    }
    return hb;
}

std::string Election::claim_reason(nanoseconds now) const {
    for (const PeerView& p : peers_) {
        if (p.state != NodeState::kMaster) continue;
        if (p.live && p.priority == kResignPriority) return node_text(p.node_id) + " resigned";
        if (!p.live)
            return "master " + describe(p) + " silent for " +
                   std::to_string((now - p.last_seen).count() / 1000000) + " ms";
    }
    if (peers_.empty()) return "no peer heard since startup";
    return "no live master and no better-ranked live candidate";
}

Election::Survey Election::survey() const {
    Survey out;
    for (const PeerView& p : peers_) {
        if (!p.live || p.priority == kResignPriority || p.state == NodeState::kFault) continue;
        if (outranks_me(p)) out.better_candidate = true;
        if (p.state != NodeState::kMaster) continue;
        if (p.handover_to == config_.node_id) out.handing_to_me = &p;
        if (!out.best_master ||
            std::make_tuple(p.priority, p.node_id) >
                std::make_tuple(out.best_master->priority, out.best_master->node_id))
            out.best_master = &p;
    }
    return out;
}

std::optional<Transition> Election::evaluate() {
    const nanoseconds now = clock_.now();
    for (PeerView& p : peers_) p.live = is_live(p, now);
    if (resigning_ || state_ == NodeState::kInit || state_ == NodeState::kFault)
        return std::nullopt;
    const Survey s = survey();
    return state_ == NodeState::kMaster ? evaluate_master(s, now) : evaluate_backup(s, now);
}

std::optional<Transition> Election::evaluate_master(const Survey& s, nanoseconds now) {
    if (handed_over_from_ != 0 &&
        std::none_of(peers_.begin(), peers_.end(),
                     [&](const PeerView& p) { return p.live && p.node_id == handed_over_from_; }))
        handed_over_from_ = 0;  // it went away; when it returns, it is a returning node
    const bool better_backup = std::any_of(peers_.begin(), peers_.end(), [&](const PeerView& p) {
        return p.live && p.state == NodeState::kBackup && p.priority != kResignPriority &&
               p.node_id != handed_over_from_ && outranks_me(p);
    });
    if (!better_backup || !config_.preempt || handover_target_ != 0)
        better_backup_since_ = nanoseconds{-1};
    else if (better_backup_since_.count() < 0)
        better_backup_since_ = now;
    if (handover_target_ != 0) {
        for (const PeerView& p : peers_)
            if (p.live && p.node_id == handover_target_ && p.state == NodeState::kMaster) {
                // Handed to a lower node (an operator's move): do not take it back. Handed
                // to a better one (a preempting return): preempt as usual if this node
                // becomes the better one again.
                handover_yield_ = !handover_to_better_;
                return become(NodeState::kBackup, "handed over to " + describe(p));
            }
        if (now - handover_started_ > kHandoverTimeoutIntervals * config_.interval)
            handover_target_ = 0;  // the backup never claimed: keep the addresses
    }
    if (s.best_master && outranks_me(*s.best_master) && s.best_master != s.handing_to_me)
        return become(NodeState::kBackup,
                      "yielding to higher-ranked master " + describe(*s.best_master));
    return std::nullopt;
}

std::optional<Transition> Election::evaluate_backup(const Survey& s, nanoseconds now) {
    if (s.handing_to_me) {
        // Exempt from the hand-back only when it outranks this node: it chose to move the
        // role down. One that handed over because it ranked lower is a returning node when it
        // ranks higher again.
        const std::uint32_t from = outranks_me(*s.handing_to_me) ? s.handing_to_me->node_id : 0;
        auto t = become(NodeState::kMaster, "handover from " + describe(*s.handing_to_me));
        handed_over_from_ = from;
        return t;
    }
    if (s.best_master) {
        if (!config_.preempt || handover_yield_ || outranks_me(*s.best_master)) {
            preempt_since_ = nanoseconds{-1};
            return std::nullopt;
        }
        if (preempt_since_.count() < 0) preempt_since_ = now;
        if (now - preempt_since_ < config_.preempt_delay + config_.preempt_handover_wait)
            return std::nullopt;
        return become(
            NodeState::kMaster,
            "preempting lower-ranked master " + describe(*s.best_master) +
                (config_.preempt_handover_wait.count() > 0 ? " (it did not hand over in time)"
                                                           : ""));
    }
    handover_yield_ = false;  // the master we handed over to is gone
    if (s.better_candidate) return std::nullopt;
    // The startup listening period learns whether a master exists; having heard one ends it.
    if (!heard_master_ && now - started_at_ < dead_interval_for(config_.interval))
        return std::nullopt;
    return become(NodeState::kMaster, claim_reason(now));
}

}  // namespace ha_heartbeat
