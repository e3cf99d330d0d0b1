#include "heartbeat_process.h"

#include <arpa/inet.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <map>

#include "address_holder.h"
#include "core/boot_epoch.h"
#include "core/election.h"
#include "core/heartbeat_receiver.h"
#include "netlink_addresses.h"
#include "unique_fd.h"

namespace ha_heartbeat {
namespace {

// The loop wakes at least this often to run timers, whatever the interval.
constexpr std::chrono::milliseconds kMaxPollWait{10};
// Datagrams read per wake-up: a flood cannot starve the timers.
constexpr int kMaxDatagramsPerWake = 64;
// After resigning, how long a master waits for its successor before releasing anyway.
constexpr int kResignWaitIntervals = 5;
// After its successor has claimed, an old master keeps the addresses one interval more, and at
// least this long, for requests that clients sent before the successor's announcement reached
// them (both nodes answer meanwhile; each client talks to one).
constexpr std::chrono::milliseconds kMinReleaseLinger{50};

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

class HeartbeatLoop {
  public:
    HeartbeatLoop(const HaConfig& config, SecretKey key, StatusBoard* board, const LogFn& log,
                  NetlinkAddresses& netlink, std::uint64_t epoch, int socket_fd,
                  const HealthCheck& balancers)
        : config_(config),
          key_(std::move(key)),
          balancers_(balancers),
          board_(board),
          log_(log),
          election_(config.election(), clock_),
          receiver_(key_, config.cluster_id, config.node_id(), peer_addresses(config)),
          holder_(config, netlink, log),
          notifier_(config.notify_command, log),
          health_(config.tracks, config.track_interval, log),
          epoch_(epoch),
          socket_(socket_fd) {}

    int run(AddressMonitor* monitor) {
        holder_.remove_stale();
        health_.poll(clock_.now());
        link_problem_ = holder_.link_problem();
        apply_health();
        handle(election_.start());
        {
            suite::SharedLock lock(board_->mutex);
            handover_seen_ = board_->data.handover_requests;
        }
        std::chrono::nanoseconds next_send{0};
        while (!g_stop) {
            wait_and_receive(monitor, next_send);
            const auto now = clock_.now();
            bool health_changed = health_.poll(now);
            if (config_.track_balancers && balancers_ && now >= next_balancer_check_) {
                next_balancer_check_ = now + config_.track_interval;
                std::string problem = balancers_();
                if (problem != balancer_problem_) {
                    log_(problem.empty() ? kLogNotice : kLogWarning,
                         "HATrackBalancers: " + (problem.empty()
                                                     ? "every balancer has a usable member again"
                                                     : problem));
                    balancer_problem_ = std::move(problem);
                    health_changed = true;
                }
            }
            if (now >= next_link_check_) {
                next_link_check_ = now + config_.interval;
                std::string problem = holder_.link_problem();
                if (problem != link_problem_) {
                    link_problem_ = std::move(problem);
                    health_changed = true;
                }
            }
            if (health_changed) handle(apply_health());
            check_handover();
            const bool changed = handle(election_.tick());
            holder_.poll(now);
            notifier_.reap(now);
            if (changed || now >= next_send) {
                send();
                next_send = now + config_.interval;
            }
            publish();
        }
        return stop(monitor);
    }

  private:
    static std::vector<WireAddress> peer_addresses(const HaConfig& c) {
        std::vector<WireAddress> out;
        for (const Endpoint& p : c.peers) out.push_back(p.address.wire());
        return out;
    }

    // Health = HATrack checks + service interface carrier + HATrackBalancers.
    std::optional<Transition> apply_health() {
        const bool balancer_bad = !balancer_problem_.empty();
        const bool fault = health_.fault() || !link_problem_.empty() ||
                           (balancer_bad && config_.balancer_weight == 0);
        const int penalty = health_.penalty() + (balancer_bad ? config_.balancer_weight : 0);
        std::string reason = health_.reason();
        if (balancer_bad) reason = balancer_problem_ + "; " + reason;
        if (!link_problem_.empty()) reason = link_problem_ + "; " + reason;
        return election_.set_health(fault, penalty, reason);
    }

    // Applies a transition: addresses first (claim before telling anyone, release after).
    bool handle(const std::optional<Transition>& t) {
        if (!t) return false;
        const auto now = clock_.now();
        log_(t->to == NodeState::Master || t->from == NodeState::Master ? kLogNotice : kLogInfo,
             std::string("state ") + state_name(t->from) + " -> " + state_name(t->to) + ": " +
                 t->reason);
        if (t->to == NodeState::Master) holder_.claim(now);
        // Yielding to another master: it has claimed and announced already; keep answering a
        // little longer for the requests that were sent our way before its announcement
        // arrived. In FAULT there is nothing to gain: release at once.
        if (t->from == NodeState::Master && t->to == NodeState::Backup)
            holder_.release_at(now + release_linger());
        else if (t->from == NodeState::Master)
            holder_.release();
        ++transitions_;
        last_transition_ = now;
        last_reason_ = t->reason;
        notifier_.notify(t->to, config_.node_name, election_.effective_priority(), t->reason);
        publish();  // the status page agrees with the addresses as soon as possible
        return true;
    }

    void send() {
        Heartbeat hb = election_.outgoing();
        hb.cluster_id = config_.cluster_id;
        hb.boot_epoch = epoch_;
        hb.sequence = ++sequence_;
        hb.challenge = receiver_.challenge();
        for (const Endpoint& peer : config_.peers) {
            // One message per peer: each echoes the challenge that peer sent us.
            hb.echo = receiver_.echo_for(peer.address.wire());
            const WireMessage m = encode(hb, key_, config_.listen.address.wire());
            sockaddr_storage to;
            const socklen_t len = to_sockaddr(peer, &to);
            if (sendto(socket_, m.data(), m.size(), MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&to),
                       len) < 0) {
                const std::string err = std::strerror(errno);
                // A peer whose link is down fails every interval: log the first failure only.
                if (send_errors_[peer.text()] != err)
                    log_(kLogWarning, "sending heartbeat to " + peer.text() + ": " + err);
                send_errors_[peer.text()] = err;
            } else {
                send_errors_[peer.text()].clear();
                ++sent_;
            }
        }
    }

    void wait_and_receive(AddressMonitor* monitor, std::chrono::nanoseconds next_send) {
        const auto now = clock_.now();
        auto wait = std::min<std::chrono::nanoseconds>(kMaxPollWait, next_send - now);
        if (wait.count() < 0) wait = std::chrono::nanoseconds{0};
        pollfd fds[2] = {{socket_, POLLIN, 0}, {monitor ? monitor->fd() : -1, POLLIN, 0}};
        const int timeout_ms =
            static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(wait).count());
        if (poll(fds, monitor ? 2 : 1, timeout_ms) <= 0) return;
        if (fds[0].revents & POLLIN) receive();
        if (monitor && (fds[1].revents & POLLIN))
            monitor->drain([&](const IpAddress& a, int ifindex) {
                holder_.on_removed(a, ifindex, clock_.now());
            });
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
            auto hb = receiver_.accept(buf, size, source.wire());
            if (!hb) {
                warn_about_drops(source);
                continue;
            }
            peer_address_[hb->node_id] = source.text();
            const bool returning = !peer_was_live(hb->node_id);
            if (handle(election_.on_heartbeat(*hb))) send();
            if (election_.state() == NodeState::Master &&
                (returning || hb->state == NodeState::Master))
                announce_to_returning_side(*hb, returning);
        }
    }

    std::chrono::nanoseconds release_linger() const {
        return std::max<std::chrono::nanoseconds>(config_.interval, kMinReleaseLinger);
    }

    bool peer_was_live(std::uint32_t node_id) const {
        for (const PeerView& p : election_.peers())
            if (p.node_id == node_id) return p.live;
        return false;
    }

    // A peer we had lost comes back (a partition heals, a node restarts) or also claims master:
    // the clients on its side may have its MAC for our addresses in their ARP caches, so
    // announce again now rather than leave them to time out (keepalived's most reported
    // split-brain problem). The other master yields on our next heartbeat.
    void announce_to_returning_side(const Heartbeat& hb, bool returning) {
        const auto now = clock_.now();
        if (now - last_reannounce_ < config_.interval) return;
        last_reannounce_ = now;
        log_(kLogInfo, "node " + std::to_string(hb.node_id) +
                           (returning ? " is back" : " also claims master") +
                           "; announcing the service addresses again");
        holder_.announce_again(now);
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

    void check_handover() {
        std::uint64_t requests;
        {
            suite::SharedLock lock(board_->mutex);
            requests = board_->data.handover_requests;
        }
        if (requests == handover_seen_) return;
        handover_seen_ = requests;
        auto refused = election_.request_handover();
        if (refused) {
            handover_result_ = "handover refused: " + *refused;
            log_(kLogWarning, handover_result_);
        } else {
            handover_result_ =
                "handing over to node " + std::to_string(election_.handover_target());
            log_(kLogNotice, handover_result_);
            send();
        }
    }

    int stop(AddressMonitor* monitor) {
        const bool was_master = election_.state() == NodeState::Master;
        election_.resign();
        log_(kLogNotice, std::string("stopping: resigning") + (was_master ? " as master" : ""));
        send();
        if (was_master) {
            // Keep the addresses until a successor has claimed them (or a bounded wait ends),
            // so a planned stop loses as little as possible.
            const auto deadline = clock_.now() + kResignWaitIntervals * config_.interval;
            auto next_send = clock_.now() + config_.interval;
            while (clock_.now() < deadline && !election_.successor_is_master()) {
                wait_and_receive(monitor, next_send);
                if (clock_.now() >= next_send) {
                    send();
                    next_send = clock_.now() + config_.interval;
                }
            }
            const bool seen = election_.successor_is_master();
            if (seen) {
                // As when yielding: the successor has announced; linger for requests in flight.
                const auto linger_end = clock_.now() + release_linger();
                while (clock_.now() < linger_end) wait_and_receive(monitor, linger_end);
            }
            holder_.release();
            log_(kLogNotice, std::string("released the service addresses; ") +
                                 (seen ? "a successor is master" : "no successor seen"));
        }
        publish(true);
        return 0;
    }

    void publish(bool stopped = false) {
        suite::SharedLock lock(board_->mutex);
        BoardData& d = board_->data;
        d.format = kBoardFormat;
        d.heartbeat_pid = stopped ? 0 : static_cast<std::int32_t>(getpid());
        copy_text(d.node_name, config_.node_name);
        d.node_id = config_.node_id();
        d.state = static_cast<std::uint8_t>(stopped ? NodeState::Init : election_.state());
        record_state(d, d.state, clock_.now().count());
        d.configured_priority = config_.priority;
        d.effective_priority = election_.effective_priority();
        d.interval_ns = config_.interval.count();
        d.dead_interval_ns = election_.dead_interval_for(config_.interval).count();
        d.preempt = config_.preempt;
        d.boot_epoch = epoch_;
        d.transitions = transitions_;
        d.last_transition_ns = last_transition_.count();
        copy_text(d.last_reason, last_reason_);
        d.sent = sent_;
        d.accepted = receiver_.accepted();
        d.drops = receiver_.drops();
        const auto& peers = election_.peers();
        d.peer_count = static_cast<std::uint32_t>(std::min(peers.size(), kMaxPeers));
        for (std::size_t i = 0; i < d.peer_count; ++i) {
            BoardPeer& p = d.peers[i];
            p.node_id = peers[i].node_id;
            copy_text(p.address, peer_address_[peers[i].node_id]);
            p.state = static_cast<std::uint8_t>(peers[i].state);
            p.priority = peers[i].priority;
            p.live = peers[i].live;
            p.last_seen_ns = peers[i].last_seen.count();
            p.boot_epoch = peers[i].boot_epoch;
        }
        d.address_count =
            static_cast<std::uint32_t>(std::min(holder_.count(), kMaxServiceAddresses));
        for (std::size_t i = 0; i < d.address_count; ++i) {
            copy_text(d.addresses[i].text, holder_.address(i).text());
            copy_text(d.addresses[i].interface, holder_.address(i).interface);
            d.addresses[i].held = holder_.held(i) && !stopped;
        }
        d.handover_seen = handover_seen_;
        copy_text(d.handover_result, handover_result_);
        d.updated_ns = clock_.now().count();
    }

    const HaConfig& config_;
    const SecretKey key_;  // read by this process only (HASecretFile)
    const HealthCheck& balancers_;
    std::string balancer_problem_;
    std::chrono::nanoseconds next_balancer_check_{0};
    StatusBoard* board_;
    const LogFn& log_;
    MonotonicClock clock_;
    Election election_;
    HeartbeatReceiver receiver_;
    AddressHolder holder_;
    Notifier notifier_;
    HealthTracker health_;
    std::uint64_t epoch_;
    int socket_;
    std::uint64_t sequence_ = 0;
    std::uint64_t sent_ = 0;
    std::uint64_t transitions_ = 0;
    std::chrono::nanoseconds last_transition_{0};
    std::string last_reason_;
    std::uint64_t handover_seen_ = 0;
    std::string link_problem_;
    std::chrono::nanoseconds last_reannounce_{0};
    bool warned_own_id_ = false;
    bool warned_cluster_ = false;
    std::chrono::nanoseconds next_link_check_{0};
    std::string handover_result_;
    std::map<std::uint32_t, std::string> peer_address_;
    std::map<std::string, std::string> send_errors_;
};

}  // namespace

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
    UniqueFd sock(socket(config.listen.address.family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
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
    err = drop_privileges(identity);
    if (!err.empty()) {
        log(kLogError, "dropping privileges: " + err);
        return 1;
    }
    log(kLogNotice, "heartbeat process started: node " + config.node_name + " (id " +
                        std::to_string(config.node_id()) + "), priority " +
                        std::to_string(config.priority) + ", boot epoch " +
                        std::to_string(*epoch.value) + ", listening on " + config.listen.text());
    HeartbeatLoop loop(config, std::move(*key.value), board, log, *netlink, *epoch.value,
                       sock.get(), balancers);
    return loop.run(monitor.get());
}

}  // namespace ha_heartbeat
