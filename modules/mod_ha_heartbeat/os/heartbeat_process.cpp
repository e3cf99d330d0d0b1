#include "heartbeat_process.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <csignal>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <mutex>
#include <thread>

#include "../../common/unique_fd.h"
#include "../core/boot_epoch.h"
#include "../core/election.h"
#include "../core/episode_tracker.h"
#include "../core/group_elections.h"
#include "../core/heartbeat_receiver.h"
#include "../core/loop_rules.h"
#include "../core/move_sequencer.h"
#include "address_holder.h"
#include "async_log.h"
#include "drain_gate.h"
#include "netlink_addresses.h"
#include "realtime.h"

namespace ha_heartbeat {
namespace {

// The loop wakes at least this often to run timers, whatever the interval.
constexpr std::chrono::milliseconds kMaxPollWait{10};
// Datagrams read per wake-up: a flood cannot starve the timers.
constexpr int kMaxDatagramsPerWake = 64;
// A wait that ends this much later than asked means this node (its CPU, its VM, the machine)
// was not running: Election::on_local_pause. Real-time wake-ups are late by microseconds.
constexpr std::chrono::milliseconds kPauseThreshold{1};

long long to_ms(std::chrono::nanoseconds d) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// The reason a datagram was just rejected: the counter that went up.
const char* drop_reason(const DropCounters& before, const DropCounters& after) {
    if (after.unknown_source != before.unknown_source) return "not from a configured peer";
    if (after.wrong_size != before.wrong_size) return "wrong size";
    if (after.bad_magic != before.bad_magic) return "not a heartbeat";
    if (after.bad_version != before.bad_version) return "unknown version";
    if (after.bad_mac != before.bad_mac) return "bad MAC (forged, or another HASecretFile)";
    if (after.malformed != before.malformed) return "malformed";
    if (after.wrong_cluster != before.wrong_cluster) return "another HAClusterId";
    if (after.replayed != before.replayed) return "replayed";
    if (after.own_node_id != before.own_node_id) return "this node's own id";
    if (after.table_full != before.table_full) return "peer table full";
    if (after.unconfirmed != before.unconfirmed) return "echoes another challenge";
    return "rejected";
}

volatile std::sig_atomic_t g_stop = 0;
extern "C" void on_stop_signal(int) {
    g_stop = 1;
}

void install_signals() {
    struct sigaction stop {};
    stop.sa_handler = on_stop_signal;
    sigemptyset(&stop.sa_mask);
    sigaction(SIGTERM, &stop, nullptr);
    sigaction(SIGINT, &stop, nullptr);
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    // httpd's restart and graceful signals are meant for the parent; the heartbeat keeps going.
    for (int s : {SIGHUP, SIGUSR1, SIGWINCH, SIGPIPE}) sigaction(s, &ignore, nullptr);
    struct sigaction dfl {};
    dfl.sa_handler = SIG_DFL;
    sigaction(SIGCHLD, &dfl, nullptr);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
}

socklen_t to_sockaddr(const Endpoint& e, sockaddr_storage* ss) {
    std::memset(ss, 0, sizeof *ss);
    if (e.address.family == AF_INET6) {
        auto* s6 = reinterpret_cast<sockaddr_in6*>(ss);
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(e.port);
        std::memcpy(&s6->sin6_addr, e.address.bytes.data(), sizeof s6->sin6_addr);
        return sizeof *s6;
    }
    auto* s4 = reinterpret_cast<sockaddr_in*>(ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(e.port);
    std::memcpy(&s4->sin_addr, e.address.bytes.data(), sizeof s4->sin_addr);
    return sizeof *s4;
}

bool from_sockaddr(const sockaddr_storage& ss, IpAddress* out) {
    if (ss.ss_family == AF_INET) {
        out->family = AF_INET;
        out->bytes = {};
        std::memcpy(out->bytes.data(), &reinterpret_cast<const sockaddr_in&>(ss).sin_addr, 4);
        return true;
    }
    if (ss.ss_family == AF_INET6) {
        out->family = AF_INET6;
        std::memcpy(out->bytes.data(), &reinterpret_cast<const sockaddr_in6&>(ss).sin6_addr, 16);
        return true;
    }
    return false;
}

std::string drop_privileges(const ProcessIdentity& id) {
    if (!id.drop_privileges || geteuid() != 0 || id.uid == 0) return "";
    if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
        return std::string("PR_SET_KEEPCAPS: ") + std::strerror(errno);
    if (setgroups(0, nullptr) != 0 || setgid(id.gid) != 0 || setuid(id.uid) != 0)
        return std::string("switching user: ") + std::strerror(errno);
    cap_t caps = cap_init();
    if (!caps) return "cap_init failed";
    const cap_value_t keep[] = {CAP_NET_ADMIN, CAP_NET_RAW};
    const int n = static_cast<int>(sizeof keep / sizeof keep[0]);
    cap_set_flag(caps, CAP_PERMITTED, n, keep, CAP_SET);
    cap_set_flag(caps, CAP_EFFECTIVE, n, keep, CAP_SET);
    const int rc = cap_set_proc(caps);
    cap_free(caps);
    if (rc != 0) return std::string("cap_set_proc: ") + std::strerror(errno);
    prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
    return "";
}

// One address group's share of the loop (address_groups.h): its election, the addresses it
// holds and the gate that drains it before a planned move (the sequence: core/move_sequencer.h).
// Each group moves on its own; the node's heartbeats carry every group's state.
struct GroupRun final : GroupHost {
    GroupRun(const HaConfig& config, std::size_t index, const AddressGroup& group,
             Election& election, NetlinkAddresses& netlink, const LogFn& log)
        : index(index),
          plan(group),
          election(election),
          holder(config, group.addresses, netlink, log),
          gate(config, group.addresses, group.key, log),
          split_brain(episode_quiet(config.interval)) {
        for (std::size_t i : group.addresses) address_mask |= 1u << i;
    }

    const std::size_t index;  // in the elections, and in the planned moves
    const AddressGroup plan;
    Election& election;
    AddressHolder holder;
    DrainGate gate;
    EpisodeTracker split_brain;
    std::chrono::nanoseconds last_reannounce{0};
    std::uint32_t address_mask = 0;  // bits of HaConfig::service_addresses, for MoveSignals

    bool master() const { return election.state() == NodeState::kMaster; }
    bool holding_as_master() const { return master() && holder.holding(); }

    std::string close_to_new_connections() override { return gate.close_to_new_connections(); }
    void reopen() override { gate.reopen(); }
    bool closed() const override { return gate.closed(); }
    int open_connections() const override { return gate.open_connections(); }
    bool holding() const override { return holder.holding(); }
    void release() override { holder.release(); }
    void hold_announcements(bool on) override { holder.hold_announcements(on); }
};

class HeartbeatLoop final : NodeHost {
  public:
    HeartbeatLoop(const HaConfig& config, const Clock& clock, SecretKey key, StatusBoard* board,
                  const LogFn& log, NetlinkAddresses& netlink, std::uint64_t epoch, int socket_fd,
                  const HealthCheck& balancers, int sender_cpu)
        : config_(config),
          clock_(clock),
          key_(std::move(key)),
          balancers_(balancers),
          board_(board),
          log_(log),
          elections_(config, plan_groups(config), clock_),
          moves_(config.drain_timeout, config.interval, clock, *this, log),
          receiver_(key_, config.cluster_id, config.node_id(), peer_addresses(config)),
          notifier_(config.notify_command, log),
          health_(config.tracks, config.track_interval, log),
          epoch_(epoch),
          socket_(socket_fd),
          rejected_(episode_quiet(config.interval)),
          sender_cpu_(sender_cpu) {
        for (std::size_t i = 0; i < elections_.size(); ++i)
            groups_.push_back(std::make_unique<GroupRun>(config, i, elections_.group(i),
                                                         elections_.election(i), netlink, log));
        // Once every group is in: the prefixes depend on how many there are.
        for (auto& g : groups_)
            moves_.add_group(g->election, *g, g->plan.key, g->address_mask, prefix(*g));
    }

    ~HeartbeatLoop() { stop_repeat_sender(); }

    // One pass per wake-up; kept whole because the order is the guarantee: health, moves,
    // then the heartbeats waiting in the socket, and only then the election's timers.
    int run(AddressMonitor* monitor) {
        monitor_ = monitor;
        sender_ = std::thread([this] { repeat_sender(); });
        for (auto& g : groups_) {
            g->holder.remove_stale();
            g->gate.reopen(true);  // a drain table left by a process that died mid-drain
        }
        board_->moves.draining.store(0);
        board_->moves.stop_ready.store(0);
        board_->moves.heartbeat_pid.store(pid_);
        log_placement();
        health_.poll(clock_.now());
        link_problem_ = link_problem();
        for (auto& g : groups_) {
            apply_health(*g);
            handle(*g, g->election.start());
        }
        {
            suite::SharedLock lock(board_->mutex);
            handover_seen_ = board_->data.handover_requests;
        }
        std::chrono::nanoseconds next_send{0};
        while (!g_stop) {
            wait_and_receive(monitor, next_send);
            const auto now = clock_.now();
            if (poll_health(now))
                for (auto& g : groups_) handle(*g, apply_health(*g));
            end_episodes(now);
            if (realtime_overrun_handled())
                log_(kLogWarning,
                     "HARealtime: the loop ran past its real-time budget without "
                     "sleeping (a datagram flood?); back to normal scheduling");
            check_handover();
            moves_.check_preempting_returns();
            check_stop_request();
            moves_.advance();
            // Whatever ran since the wait may have taken a while (a netlink or nftables call, a
            // page fault): read the heartbeats that arrived meanwhile before any timer can call
            // their sender dead. At 10 ms, a 30 ms stall was enough for "master silent" while
            // its heartbeats sat in the socket buffer.
            receive();
            bool changed = false;
            for (auto& g : groups_) changed = handle(*g, g->election.tick()) || changed;
            for (auto& g : groups_) g->holder.poll(now);
            notifier_.reap(now);
            if (changed || now >= next_send) {
                send();
                next_send = now + config_.interval;
            }
            publish();
        }
        return stop();
    }

  private:
    static std::vector<WireAddress> peer_addresses(const HaConfig& c) {
        std::vector<WireAddress> out;
        for (const Endpoint& p : c.peers) out.push_back(p.address.wire());
        return out;
    }

    bool several_groups() const { return groups_.size() > 1; }
    // Log lines about one group name it when the node has several.
    std::string prefix(const GroupRun& g) const {
        return group_log_prefix(g.plan, several_groups());
    }

    void log_placement() {
        if (!several_groups()) return;
        std::string line = "address groups (active-active):";
        for (const auto& g : groups_)
            line += " " + g->plan.name + " priority " + std::to_string(g->plan.priority) +
                    (g->plan.home ? " (home)" : "") + ";";
        line.pop_back();
        log_(kLogInfo, line);
    }

    // HATrack checks, HATrackBalancers and the service links; true when the verdict may differ.
    bool poll_health(std::chrono::nanoseconds now) {
        bool changed = health_.poll(now);
        if (config_.track_balancers && balancers_ && now >= next_balancer_check_) {
            next_balancer_check_ = now + config_.track_interval;
            std::string problem = balancers_();
            if (problem != balancer_problem_) {
                log_(problem.empty() ? kLogNotice : kLogWarning,
                     "HATrackBalancers: " +
                         (problem.empty() ? "every balancer has a usable member again" : problem));
                balancer_problem_ = std::move(problem);
                changed = true;
            }
        }
        if (now >= next_link_check_) {
            next_link_check_ = now + config_.interval;
            std::string problem = link_problem();
            if (problem != link_problem_) {
                link_problem_ = std::move(problem);
                changed = true;
            }
        }
        return changed;
    }

    // A node whose service link is down holds none of its groups (keepalived's FAULT).
    std::string link_problem() const {
        for (const auto& g : groups_) {
            std::string problem = g->holder.link_problem();
            if (!problem.empty()) return problem;
        }
        return "";
    }

    // Health = HATrack checks + service interface carrier + HATrackBalancers (loop_rules.h).
    std::optional<Transition> apply_health(GroupRun& g) {
        HealthInputs in;
        in.checks_fault = health_.fault();
        in.checks_penalty = health_.penalty();
        in.checks_reason = health_.reason();
        in.link_problem = link_problem_;
        in.balancer_problem = balancer_problem_;
        in.balancer_weight = config_.balancer_weight;
        const HealthVerdict v = health_verdict(in);
        return g.election.set_health(v.fault, v.penalty, v.reason);
    }

    // Applies a transition: addresses first (claim before telling anyone, release after).
    bool handle(GroupRun& g, const std::optional<Transition>& t) {
        if (!t) return false;
        const auto now = clock_.now();
        const std::string reason = prefix(g) + t->reason;
        log_(t->to == NodeState::kMaster || t->from == NodeState::kMaster ? kLogNotice : kLogInfo,
             prefix(g) + "state " + state_name(t->from) + " -> " + state_name(t->to) + ": " +
                 t->reason);
        switch (address_step(*t, moves_.drain(g.index).drained())) {
            case AddressStep::kClaim:
                g.holder.claim(now);
                break;
            case AddressStep::kReleaseAfterLinger:
                g.holder.release_at(now + release_linger(config_.interval));
                break;
            case AddressStep::kReleaseNow:
                g.holder.release();
                break;
            case AddressStep::kNone:
                break;
        }
        ++transitions_;
        last_transition_ = now;
        last_reason_ = reason;
        notifier_.notify(t->to, config_.node_name, g.election.effective_priority(), reason);
        publish();  // the status page agrees with the addresses as soon as possible
        return true;
    }

    // Sends the heartbeat the elections give now (main thread: it reads the elections) and
    // leaves it for the repeat sender.
    void send() {
        Heartbeat hb = elections_.outgoing();
        hb.challenge = receiver_.challenge();
        // The echoes too are taken here: the receiver belongs to the main thread.
        std::vector<std::uint64_t> echoes;
        for (const Endpoint& peer : config_.peers)
            echoes.push_back(receiver_.echo_for(peer.address.wire()));
        std::lock_guard<std::mutex> lock(send_mutex_);
        outgoing_ = hb;
        outgoing_echoes_ = std::move(echoes);
        have_outgoing_ = true;
        send_locked();
    }

    // The repeat sender, a thread of its own (real-time too): sends the last heartbeat again
    // whenever the main loop has not sent one for an interval. The main loop can be held up by
    // netlink (rtnl_lock is shared by every namespace on the machine, and was measured holding
    // an address renewal 20 ms under load), by nftables or by /proc reads; at 10 ms a 30 ms
    // hold-up made the peers call this node dead while it was alive. The state it repeats is
    // the one last sent, so it never announces what the main loop has not.
    void repeat_sender() {
        if (sender_cpu_ >= 0) pin_to_cpu(sender_cpu_);
        std::unique_lock<std::mutex> lock(send_mutex_);
        while (!sender_stop_) {
            const auto due = last_sent_ + config_.interval;
            const auto now = clock_.now();
            if (have_outgoing_ && now >= due) {
                send_locked();
                continue;
            }
            sender_wake_.wait_for(lock, have_outgoing_ ? due - now : config_.interval);
        }
    }

    void stop_repeat_sender() {
        {
            std::lock_guard<std::mutex> lock(send_mutex_);
            sender_stop_ = true;
        }
        sender_wake_.notify_all();
        if (sender_.joinable()) sender_.join();
    }

    // Under send_mutex_, so sequence numbers go out in order.
    void send_locked() {
        Heartbeat hb = outgoing_;
        const auto now = clock_.now();
        if (last_sent_.count() > 0 && now - last_sent_ > longest_send_gap_.load())
            longest_send_gap_.store(now - last_sent_);
        last_sent_ = now;
        hb.cluster_id = config_.cluster_id;
        hb.boot_epoch = epoch_;
        hb.sequence = ++sequence_;
        for (std::size_t i = 0; i < config_.peers.size(); ++i) {
            const Endpoint& peer = config_.peers[i];
            // One message per peer: each echoes the challenge that peer sent us.
            hb.echo = i < outgoing_echoes_.size() ? outgoing_echoes_[i] : 0;
            const WireMessage m = encode(hb, key_, config_.listen.address.wire());
            sockaddr_storage to;
            const socklen_t len = to_sockaddr(peer, &to);
            if (sendto(socket_, m.data(), m.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to),
                       len) < 0) {
                // A peer whose link is down fails every interval: log the first failure only.
                if (send_errors_[i] != errno)
                    log_(kLogWarning,
                         "sending heartbeat to " + peer.text() + ": " + std::strerror(errno));
                send_errors_[i] = errno;
            } else {
                send_errors_[i] = 0;
                ++sent_;
            }
        }
    }

    void wait_and_receive(AddressMonitor* monitor, std::chrono::nanoseconds next_send) {
        const auto now = clock_.now();
        auto wait = std::min<std::chrono::nanoseconds>(kMaxPollWait, next_send - now);
        if (wait.count() < 0) wait = std::chrono::nanoseconds{0};
        pollfd fds[2] = {{socket_, POLLIN, 0}, {monitor ? monitor->fd() : -1, POLLIN, 0}};
        // ppoll: to the nanosecond. poll()'s milliseconds rounded the last part of each
        // interval down to 0 and the loop spun through it (measured: 5% of a CPU per node at
        // 10 ms, holding up the other real-time threads of its CPU by a millisecond).
        const timespec timeout{static_cast<time_t>(wait.count() / 1000000000),
                               static_cast<long>(wait.count() % 1000000000)};
        const int ready = ppoll(fds, monitor ? 2 : 1, &timeout, nullptr);
        note_pause(clock_.now() - now - wait);
        if (ready <= 0) return;
        if (fds[0].revents & POLLIN) receive();
        if (monitor && (fds[1].revents & POLLIN))
            monitor->drain([&](const IpAddress& a, int ifindex) {
                for (auto& g : groups_) g->holder.on_removed(a, ifindex, clock_.now());
            });
    }

    // The wait ended `late` after the time asked: beyond the threshold, this node was stopped
    // (not merely busy: a busy loop leaves heartbeats in the socket, read before any timer).
    void note_pause(std::chrono::nanoseconds late) {
        if (late < kPauseThreshold) return;
        ++pauses_;
        longest_pause_ = std::max(longest_pause_, late);
        for (auto& g : groups_) g->election.on_local_pause(late);
    }

    void receive() {
        // One byte more than a message, so an oversized datagram is seen as such.
        std::uint8_t buf[kWireSize + 1];
        for (int i = 0; i < kMaxDatagramsPerWake; ++i) {
            sockaddr_storage from{};
            socklen_t from_len = sizeof from;
            const ssize_t n = recvfrom(socket_, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC,
                                       reinterpret_cast<sockaddr*>(&from), &from_len);
            if (n < 0) return;
            IpAddress source;
            if (!from_sockaddr(from, &source)) continue;
            const std::size_t size = std::min(static_cast<std::size_t>(n), sizeof buf);
            const DropCounters before = receiver_.drops();
            auto hb = receiver_.accept(buf, size, source.wire());
            if (!hb) {
                // A peer's first messages, before it has heard our challenge, are set aside
                // without being drops: they start no episode.
                if (receiver_.drops().total() == before.total()) continue;
                warn_about_drops(source);
                if (rejected_.on_event(clock_.now()))
                    log_(kLogWarning, "rejecting datagrams: the first from " + source.text() +
                                          ": " + drop_reason(before, receiver_.drops()) +
                                          " (one line per episode; counts on the status page)");
                continue;
            }
            on_heartbeat(*hb, source);
        }
    }

    // An authentic heartbeat: each of our groups hears its part of it.
    void on_heartbeat(const Heartbeat& hb, const IpAddress& source) {
        PeerNode& node = peer_nodes_[hb.node_id];
        node.address = source.text();
        node.state = hb.state;
        node.priority = hb.priority;
        bool changed = false;
        for (auto& g : groups_) {
            const auto view = group_view(hb, g->plan.key);
            if (!view) continue;
            const bool returning = !peer_was_live(*g, hb.node_id);
            changed = handle(*g, g->election.on_heartbeat(*view)) || changed;
            if (g->master() && (returning || view->state == NodeState::kMaster))
                announce_to_returning_side(*g, *view, returning);
        }
        warn_about_groups(hb);
        if (changed) send();
    }

    // A peer whose heartbeats name groups this node lacks (or lack ours) runs another
    // configuration: the addresses it holds alone are not watched here. Logged once per peer.
    void warn_about_groups(const Heartbeat& hb) {
        std::size_t known = 0;
        for (std::size_t i = 0; i < hb.group_count; ++i)
            if (elections_.find(hb.groups[i].key) < elections_.size()) ++known;
        const bool differs = known != hb.group_count || known != groups_.size();
        PeerNode& node = peer_nodes_[hb.node_id];
        if (differs && !node.warned_groups)
            log_(kLogWarning, "node " + std::to_string(hb.node_id) + " (" + node.address +
                                  ") has other service addresses or groups than this node (" +
                                  std::to_string(hb.group_count) + " groups, " +
                                  std::to_string(known) +
                                  " in common): are the HAServiceAddress "
                                  "lines the same on every node?");
        node.warned_groups = differs;
    }

    bool peer_was_live(const GroupRun& g, std::uint32_t node_id) const {
        for (const PeerView& p : g.election.peers())
            if (p.node_id == node_id) return p.live;
        return false;
    }

    // A peer we had lost is back, or another node also claims master (loop_rules.h: when to
    // announce again). Logged once per episode: at 10 ms a split brain would otherwise write
    // 100 lines a second.
    void announce_to_returning_side(GroupRun& g, const Heartbeat& hb, bool returning) {
        if (g.election.resigning()) return;
        const auto now = clock_.now();
        const ReannounceDecision d =
            on_master_heard(hb, returning, g.election.resigning(), config_.node_id(),
                            now - g.last_reannounce, config_.interval);
        const std::string who = "node " + std::to_string(hb.node_id);
        if (returning)
            log_(kLogInfo, prefix(g) + who + " is back; announcing the service addresses again");
        else if (d.split_brain && g.split_brain.on_event(now))
            log_(kLogWarning, prefix(g) + who +
                                  " also claims master (split brain); announcing the service "
                                  "addresses again until it yields (one line per episode)");
        if (!d.announce) return;
        g.last_reannounce = now;
        ++reannouncements_;
        g.holder.announce_again(now);
    }

    void end_episodes(std::chrono::nanoseconds now) {
        for (auto& g : groups_)
            if (auto e = g->split_brain.poll(now))
                log_(kLogNotice, prefix(*g) + "split brain over: another master was heard " +
                                     std::to_string(e->events) + " time(s) over " +
                                     std::to_string(to_ms(e->duration)) + " ms");
        if (auto e = rejected_.poll(now))
            log_(kLogWarning, "rejected " + std::to_string(e->events) + " datagram(s) over " +
                                  std::to_string(to_ms(e->duration)) +
                                  " ms; by reason on the status page");
    }

    // Drops are counted on the status page; two kinds point at a configuration mistake rather
    // than an attack, so they are also logged, once each.
    void warn_about_drops(const IpAddress& source) {
        const DropCounters& d = receiver_.drops();
        if (d.own_node_id > 0 && !warned_own_id_) {
            warned_own_id_ = true;
            log_(kLogError, "a heartbeat from " + source.text() +
                                " carries this node's id: is HANodeName " + config_.node_name +
                                " used twice?");
        }
        if (d.wrong_cluster > 0 && !warned_cluster_) {
            warned_cluster_ = true;
            log_(kLogWarning,
                 "a heartbeat from " + source.text() + " is for another HAClusterId; dropped");
        }
    }

    // A handover asked on the status page: of one group (its key), or of every group this node
    // holds (0: "drain this node").
    void check_handover() {
        std::uint64_t requests;
        std::uint32_t wanted;
        {
            suite::SharedLock lock(board_->mutex);
            requests = board_->data.handover_requests;
            wanted = board_->data.handover_group;
        }
        if (requests == handover_seen_) return;
        handover_seen_ = requests;
        moves_.on_handover_request(wanted);
    }

    // NodeHost, for the planned moves.
    void send_now() override { send(); }
    void set_draining(std::uint32_t address_mask) override {
        board_->moves.draining.store(address_mask);
    }

    // The parent asks before it lets httpd stop its children (stop_signals.cpp).
    void check_stop_request() {
        if (stop_ready_ || board_->moves.stop_requested.load() == 0) return;
        if (!moves_.drained_for_stop()) return;
        resign_and_release();
        moves_.end_drains();
        mark_stop_ready();
    }

    void mark_stop_ready() {
        stop_ready_ = true;
        board_->moves.stop_ready.store(1);
    }

    // The resignation (core/move_sequencer.h), waited for here: the loop only hears heartbeats
    // and sends its own meanwhile, so nothing else moves while the addresses change hands.
    void resign_and_release() {
        moves_.resign();
        auto next_send = clock_.now() + config_.interval;
        for (;;) {
            const auto phase = moves_.resign_progress();
            if (phase == PlannedMoves::ResignPhase::kDone) break;
            if (phase == PlannedMoves::ResignPhase::kLingering) {
                wait_and_receive(monitor_, moves_.linger_end());
                continue;
            }
            wait_and_receive(monitor_, next_send);
            if (clock_.now() >= next_send) {
                send();
                next_send = clock_.now() + config_.interval;
            }
        }
        publish();
    }

    int stop() {
        // SIGTERM without the parent's stop request first (a stop seen late, or the process
        // signalled by hand): drain here, while the workers may still be serving.
        if (!stop_ready_ && config_.drain_timeout.count() > 0) {
            auto next_send = clock_.now();
            while (!moves_.drained_for_stop()) {
                wait_and_receive(monitor_, next_send);
                const auto now = clock_.now();
                if (now >= next_send) {
                    send();
                    next_send = now + config_.interval;
                }
                for (auto& g : groups_) g->holder.poll(now);
                moves_.advance();
            }
        }
        if (!stop_ready_) resign_and_release();
        moves_.end_drains();
        board_->moves.heartbeat_pid.store(0);
        publish(true);
        return 0;
    }

    // Who holds group `g` as this node sees it: this node, a live master peer, or nobody (0).
    std::uint32_t holder_of(const GroupRun& g) const {
        if (g.holding_as_master()) return config_.node_id();
        for (const PeerView& p : g.election.peers())
            if (p.live && p.state == NodeState::kMaster) return p.node_id;
        return 0;
    }

    void publish_addresses(BoardData& d, bool stopped) {
        d.address_count = 0;
        for (std::size_t gi = 0; gi < groups_.size(); ++gi) {
            const GroupRun& g = *groups_[gi];
            for (std::size_t k = 0; k < g.holder.count(); ++k) {
                if (d.address_count >= kMaxServiceAddresses) return;
                BoardAddress& a = d.addresses[d.address_count++];
                copy_text(a.text, g.holder.address(k).text());
                copy_text(a.interface, g.holder.address(k).interface);
                copy_text(a.group, g.plan.name);
                a.held = g.holder.held(k) && !stopped;
                a.group_index = static_cast<std::uint8_t>(gi);
                a.group_key = g.plan.key;
                a.group_state =
                    static_cast<std::uint8_t>(stopped ? NodeState::kInit : g.election.state());
                a.group_priority = static_cast<std::uint8_t>(g.election.effective_priority());
                a.home = g.plan.home;
                a.holder_node_id = stopped ? 0 : holder_of(g);
            }
        }
    }

    void publish(bool stopped = false) {
        suite::SharedLock lock(board_->mutex);
        BoardData& d = board_->data;
        const Election& first = groups_.front()->election;
        d.format = kBoardFormat;
        d.heartbeat_pid = stopped ? 0 : pid_;
        copy_text(d.node_name, config_.node_name);
        d.node_id = config_.node_id();
        d.state = static_cast<std::uint8_t>(stopped ? NodeState::kInit : elections_.node_state());
        record_state(d, d.state, clock_.now().count());
        d.configured_priority = config_.priority;
        d.effective_priority = first.effective_priority();
        d.interval_ns = config_.interval.count();
        d.dead_interval_ns = first.dead_interval_for(config_.interval).count();
        d.preempt = config_.preempt;
        d.boot_epoch = epoch_;
        d.transitions = transitions_;
        d.last_transition_ns = last_transition_.count();
        copy_text(d.last_reason, last_reason_);
        d.sent = sent_.load();
        d.accepted = receiver_.accepted();
        d.drops = receiver_.drops();
        publish_peers(d);
        publish_addresses(d, stopped);
        d.group_count = static_cast<std::uint32_t>(groups_.size());
        d.handover_seen = handover_seen_;
        d.split_brain_episodes = 0;
        for (const auto& g : groups_) d.split_brain_episodes += g->split_brain.episodes();
        d.reannouncements = reannouncements_;
        d.rejected_episodes = rejected_.episodes();
        d.longest_send_gap_ns = longest_send_gap_.load().count();
        d.longest_pause_ns = longest_pause_.count();
        d.pauses = pauses_;
        copy_text(d.handover_result, moves_.handover_result());
        d.updated_ns = clock_.now().count();
    }

    // Every peer heard, with its own summary state; liveness as the first group's election sees
    // it (every group hears the same heartbeats).
    void publish_peers(BoardData& d) {
        const auto& peers = groups_.front()->election.peers();
        d.peer_count = static_cast<std::uint32_t>(std::min(peers.size(), kMaxPeers));
        for (std::size_t i = 0; i < d.peer_count; ++i) {
            BoardPeer& p = d.peers[i];
            const PeerNode& node = peer_nodes_[peers[i].node_id];
            p.node_id = peers[i].node_id;
            copy_text(p.address, node.address);
            p.state = static_cast<std::uint8_t>(node.state);
            p.priority = node.priority;
            p.live = peers[i].live;
            p.last_seen_ns = peers[i].last_seen.count();
            p.boot_epoch = peers[i].boot_epoch;
            p.longest_silence_ns = peers[i].longest_silence.count();
        }
    }

    struct PeerNode {
        std::string address;
        NodeState state = NodeState::kInit;  // the header's summary
        std::uint8_t priority = 0;
        bool warned_groups = false;
    };

    const HaConfig& config_;
    const Clock& clock_;   // also the elections' and the drains'
    const SecretKey key_;  // read by this process only (HASecretFile)
    const HealthCheck& balancers_;
    std::string balancer_problem_;
    std::chrono::nanoseconds next_balancer_check_{0};
    StatusBoard* board_;
    const LogFn& log_;
    GroupElections elections_;
    PlannedMoves moves_;                             // the groups' drains and moves
    std::vector<std::unique_ptr<GroupRun>> groups_;  // one per election, same order
    HeartbeatReceiver receiver_;
    Notifier notifier_;
    HealthTracker health_;
    std::uint64_t epoch_;
    int socket_;
    std::uint64_t sequence_ = 0;
    std::atomic<std::uint64_t> sent_{0};
    std::atomic<std::chrono::nanoseconds> longest_send_gap_{std::chrono::nanoseconds{0}};
    std::chrono::nanoseconds longest_pause_{0};
    std::uint64_t pauses_ = 0;
    std::mutex send_mutex_;  // outgoing_, last_sent_, sequence_, send_errors_, the socket's sends
    std::condition_variable sender_wake_;
    Heartbeat outgoing_{};
    std::vector<std::uint64_t> outgoing_echoes_;  // per configured peer, as of the last send()
    bool have_outgoing_ = false;
    bool sender_stop_ = false;
    std::chrono::nanoseconds last_sent_{0};
    std::thread sender_;
    std::uint64_t transitions_ = 0;
    std::chrono::nanoseconds last_transition_{0};
    std::string last_reason_;
    std::uint64_t handover_seen_ = 0;
    std::string link_problem_;
    bool warned_own_id_ = false;
    bool warned_cluster_ = false;
    std::chrono::nanoseconds next_link_check_{0};
    std::map<std::uint32_t, PeerNode> peer_nodes_;
    std::vector<int> send_errors_ = std::vector<int>(config_.peers.size());  // errno, per peer
    AddressMonitor* monitor_ = nullptr;
    bool stop_ready_ = false;  // resigned and released for a server stop
    EpisodeTracker rejected_;
    const int sender_cpu_;  // the repeat sender's CPU; -1: not pinned
    const std::int32_t pid_ = static_cast<std::int32_t>(getpid());
    std::uint64_t reannouncements_ = 0;
};

}  // namespace

std::chrono::nanoseconds planned_stop_bound(const HaConfig& config) {
    return planned_stop_bound(config.drain_timeout, config.interval);
}

// The start-up sequence, kept in one place because its order is the point: what needs root
// (epoch file, key, sockets, netlink, real time) before the privileges are dropped.
int run_heartbeat_process(const HaConfig& config, StatusBoard* board,
                          const ProcessIdentity& identity, const LogFn& log,
                          const HealthCheck& balancers) {
    install_signals();
    auto epoch = next_boot_epoch(config.epoch_file, static_cast<std::uint64_t>(std::time(nullptr)));
    if (!epoch) {
        log(kLogError, "HAStateFile: " + epoch.error);
        return 1;
    }
    // Read here, while still root (the file is 0600 root's): httpd's parent and children only
    // checked it at config time and wiped their copy.
    auto key = read_secret_file(config.secret_file);
    if (!key) {
        log(kLogError, "HASecretFile: " + key.error);
        return 1;
    }
    suite::UniqueFd sock(socket(config.listen.address.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (sock.get() < 0) {
        log(kLogError, std::string("HAListen: socket: ") + std::strerror(errno));
        return 1;
    }
    const int on = 1;
    setsockopt(sock.get(), SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    // The listen address may not be up yet when httpd starts; bind anyway.
    setsockopt(sock.get(), SOL_IP, IP_FREEBIND, &on, sizeof on);
    if (config.listen.address.family == AF_INET6)
        setsockopt(sock.get(), IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
    sockaddr_storage addr;
    const socklen_t len = to_sockaddr(config.listen, &addr);
    if (bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), len) != 0) {
        log(kLogError, "HAListen " + config.listen.text() + ": bind: " + std::strerror(errno));
        return 1;
    }
    std::string err;
    auto netlink = NetlinkAddresses::open(&err);
    if (!netlink) {
        log(kLogError, err);
        return 1;
    }
    auto monitor = AddressMonitor::open(&err);
    if (!monitor)
        log(kLogWarning, err + "; addresses removed by others will only be re-added at renewal");
    // The log thread first, so it keeps normal scheduling; then real time, while still root.
    AsyncLog async_log(log);
    const LogFn queued = async_log.queue();
    std::string scheduling = enter_realtime(config.realtime_priority);
    // Two senders on two CPUs (realtime.h); the repeat sender is pinned when it starts.
    const std::vector<int> cpus = allowed_cpus();
    int sender_cpu = -1;
    // Only with real time granted: a normal-priority thread pinned to a busy CPU could not move
    // to an idle one.
    const bool realtime = (sched_getscheduler(0) & ~SCHED_RESET_ON_FORK) == SCHED_RR;
    if (realtime && cpus.size() >= 2 && pin_to_cpu(cpus[0])) {
        sender_cpu = cpus[1];
        scheduling += ", heartbeats sent from CPUs " + std::to_string(cpus[0]) + " and " +
                      std::to_string(sender_cpu);
    }
    err = drop_privileges(identity);
    if (!err.empty()) {
        log(kLogError, "dropping privileges: " + err);
        return 1;
    }
    queued(kLogNotice, "heartbeat process started: node " + config.node_name + " (id " +
                           std::to_string(config.node_id()) + "), priority " +
                           std::to_string(config.priority) + ", boot epoch " +
                           std::to_string(*epoch.value) + ", listening on " + config.listen.text() +
                           ", " + scheduling);
    MonotonicClock clock;
    HeartbeatLoop loop(config, clock, std::move(*key.value), board, queued, *netlink, *epoch.value,
                       sock.get(), balancers, sender_cpu);
    return loop.run(monitor.get());
}

}  // namespace ha_heartbeat
