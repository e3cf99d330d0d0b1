// A simulated active-active cluster: every node runs the real GroupElections (one election per
// address group, address_groups.h) planned from a real HaConfig, and sends what outgoing()
// says through the real encoder and HeartbeatReceiver over the simulated network
// (sim_network.h). Every node has the same service addresses, so group g is the same group on
// every node.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "address_groups.h"
#include "group_elections.h"
#include "ha_config.h"
#include "heartbeat_receiver.h"
#include "loop_rules.h"
#include "move_sequencer.h"
#include "sim_network.h"

namespace ha_heartbeat::testing {

// `count` ungrouped service addresses 10.231.1.1/24, 10.231.1.2/24, ... on eth0.
inline std::vector<ServiceAddress> service_addresses(std::size_t count) {
    std::vector<ServiceAddress> out;
    for (std::size_t i = 0; i < count; ++i)
        out.push_back(
            *parse_service_address("10.231.1." + std::to_string(i + 1) + "/24", "eth0").value);
    return out;
}

inline std::string node_name(std::size_t index) {
    return "node-" + std::to_string(index + 1);
}

inline Endpoint node_endpoint(std::size_t index) {
    return *parse_endpoint("10.231.0." + std::to_string(index + 1), kDefaultPort).value;
}

// Node `index` of `count`: named node-<index + 1>, heartbeats on 10.231.0.<index + 1>, every
// other node a peer (listed from the last, so that the numbering cannot lean on their order),
// the same service addresses as every node, and whatever validate() needs besides.
inline HaConfig group_node_config(std::size_t index, std::size_t count,
                                  const std::vector<ServiceAddress>& addresses) {
    HaConfig c;
    c.enabled = true;
    c.node_name = node_name(index);
    c.cluster_id = kCluster;
    c.listen = node_endpoint(index);
    c.listen_set = true;
    for (std::size_t j = count; j-- > 0;)
        if (j != index) c.peers.push_back(node_endpoint(j));
    c.service_addresses = addresses;
    c.secret_file = "/etc/apache2/ha.key";
    c.epoch_file = "/var/lib/apache2/ha_heartbeat/epoch";
    return c;
}

// One group's addresses and drain gate on a simulated node: the connections still open are the
// test's to set; what happened and when is kept for the test to check.
struct SimGroupHost final : GroupHost {
    explicit SimGroupHost(const Clock& clock) : clock(clock) {}
    std::string close_to_new_connections() override {
        gate_closed = true;
        closed_at = clock.now();
        return "";
    }
    void reopen() override { gate_closed = false; }
    bool closed() const override { return gate_closed; }
    int open_connections() const override { return connections; }
    bool holding() const override { return held; }
    void release() override {
        held = false;
        release_due = std::chrono::nanoseconds{-1};
        released_at = clock.now();
        connections_at_release = connections;
    }
    // What the heartbeat process does with the addresses on a transition (address_step).
    void hold_announcements(bool on) override { announcements_held = on; }
    void apply(AddressStep step, std::chrono::nanoseconds linger) {
        if (step == AddressStep::kClaim) {
            held = true;
            announcements_held = false;  // as AddressHolder::claim
            release_due = std::chrono::nanoseconds{-1};
        } else if (step == AddressStep::kReleaseAfterLinger) {
            release_due = clock.now() + linger;
        } else if (step == AddressStep::kReleaseNow) {
            release();
        }
    }
    void poll() {
        if (release_due.count() >= 0 && clock.now() >= release_due) release();
    }

    const Clock& clock;
    int connections = 0;
    bool gate_closed = false;
    bool held = false;
    bool announcements_held = false;
    std::chrono::nanoseconds release_due{-1};
    std::chrono::nanoseconds closed_at{-1};    // the last time the gate closed
    std::chrono::nanoseconds released_at{-1};  // the last release
    int connections_at_release = 0;
};

// A simulated node's side of its planned moves.
struct SimNodeHost final : NodeHost {
    std::function<void()> send;
    std::uint32_t draining = 0;
    void send_now() override { send(); }
    void set_draining(std::uint32_t mask) override { draining = mask; }
};

struct SimGroupNode {
    HaConfig config;
    WireAddress address{};
    std::unique_ptr<GroupElections> elections;
    std::unique_ptr<HeartbeatReceiver> receiver;
    std::uint64_t epoch = 0;
    std::uint64_t sequence = 0;
    std::chrono::nanoseconds next_send{0};
    bool up = false;
    // The planned moves, run as the heartbeat process runs them (SimGroupCluster::run_moves).
    std::vector<std::unique_ptr<SimGroupHost>> hosts;  // per group
    std::unique_ptr<SimNodeHost> node_host;
    std::unique_ptr<PlannedMoves> moves;
    std::vector<std::string> log_lines;
    bool stop_requested = false;
    bool resigning = false;
    bool stopped = false;  // resigned and released: httpd may stop it now
};

struct GroupTransition {
    std::chrono::nanoseconds at;
    std::size_t node;
    std::size_t group;
    Transition transition;
};

class SimGroupCluster : public SimNetwork {
  public:
    std::vector<SimGroupNode> nodes;
    std::vector<GroupTransition> log;  // every transition of every node's every group
    // The glue's part in a preempting return (a planned move): a master whose election says
    // should_yield_to_backup() hands that group over at once (a drain that found nothing to
    // wait for). Without it, the returning node preempts by itself after its handover wait.
    bool hand_back = true;
    // Runs each node's planned moves (move_sequencer.h) as the heartbeat loop does, with the
    // drains' open connections set by the test (SimGroupHost::connections), in place of
    // hand_back.
    bool run_moves = false;

    // The configurations are in `nodes` and may be changed before the nodes start.
    SimGroupCluster(std::size_t node_count, const std::vector<ServiceAddress>& addresses) {
        for (std::size_t i = 0; i < node_count; ++i) {
            SimGroupNode n;
            n.config = group_node_config(i, node_count, addresses);
            n.address = n.config.listen.address.wire();
            nodes.push_back(std::move(n));
        }
    }

    void start(std::size_t i) {
        SimGroupNode& n = nodes[i];
        std::vector<WireAddress> peers;
        for (const Endpoint& p : n.config.peers) peers.push_back(p.address.wire());
        n.elections = std::make_unique<GroupElections>(n.config, plan_groups(n.config), clock);
        n.receiver = std::make_unique<HeartbeatReceiver>(key, n.config.cluster_id,
                                                         n.config.node_id(), peers);
        ++n.epoch;
        n.sequence = 0;
        n.up = true;
        start_moves(i);
        for (std::size_t g = 0; g < n.elections->size(); ++g)
            record(i, g, n.elections->election(g).start());
        n.next_send = clock.now();
    }
    void start_all() {
        for (std::size_t i = 0; i < nodes.size(); ++i) start(i);
    }
    // A crash: silent, and all but the epoch counter forgotten (start() draws a new challenge).
    void crash(std::size_t i) {
        nodes[i].up = false;
        nodes[i].elections.reset();
        nodes[i].receiver.reset();
    }
    // Cuts `a` off from every other node, both ways.
    void isolate(std::size_t a) {
        for (std::size_t j = 0; j < nodes.size(); ++j)
            if (j != a) partition(a, j);
    }

    void send_from(std::size_t i) {
        SimGroupNode& n = nodes[i];
        Heartbeat hb = n.elections->outgoing();
        hb.cluster_id = n.config.cluster_id;
        hb.boot_epoch = n.epoch;
        hb.sequence = ++n.sequence;
        hb.challenge = n.receiver->challenge();
        for (std::size_t j = 0; j < nodes.size(); ++j) {
            if (j == i) continue;
            hb.echo = n.receiver->echo_for(nodes[j].address);
            send(i, n.address, j, encode(hb, key, n.address));
        }
    }

    // The parent's stop request (stop_signals.cpp): drain, resign and release, then stop.
    void request_stop(std::size_t i) { nodes[i].stop_requested = true; }
    // A handover asked on node i's status page (key 0: every group it holds).
    void request_handover(std::size_t i, std::uint32_t key = 0) {
        nodes[i].moves->on_handover_request(key);
    }
    // HATrack says node i is (or is no longer) broken.
    void set_fault(std::size_t i, bool fault) {
        bool changed = false;
        for (std::size_t g = 0; g < nodes[i].elections->size(); ++g)
            changed |= record(i, g, election(i, g).set_health(fault, 0, "simulated check"));
        if (changed) send_from(i);
    }
    SimGroupHost& host(std::size_t node, std::size_t group) { return *nodes[node].hosts[group]; }
    // Whether a line of node i's log contains `text`.
    bool logged(std::size_t i, const std::string& text) const {
        for (const std::string& l : nodes[i].log_lines)
            if (l.find(text) != std::string::npos) return true;
        return false;
    }

    std::size_t group_count() const { return plan_groups(nodes[0].config).size(); }
    Election& election(std::size_t node, std::size_t group) {
        return nodes[node].elections->election(group);
    }
    // The running nodes that are MASTER of group g.
    std::vector<std::size_t> masters(std::size_t g) const {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < nodes.size(); ++i)
            if (nodes[i].up && nodes[i].elections->election(g).state() == NodeState::kMaster)
                out.push_back(i);
        return out;
    }
    // For each group, its masters.
    std::vector<std::vector<std::size_t>> holders() const {
        std::vector<std::vector<std::size_t>> out;
        for (std::size_t g = 0; g < group_count(); ++g) out.push_back(masters(g));
        return out;
    }
    // For each group, the node whose plan makes it the group's home (nodes.size() if none).
    std::vector<std::size_t> homes() const {
        std::vector<std::size_t> out(group_count(), nodes.size());
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            const auto plan = plan_groups(nodes[i].config);
            for (std::size_t g = 0; g < plan.size(); ++g)
                if (plan[g].home) out[g] = i;
        }
        return out;
    }
    // How many times group g (any group when g is npos) got a new MASTER after `since`.
    std::size_t claims_since(std::chrono::nanoseconds since,
                             std::size_t g = static_cast<std::size_t>(-1)) const {
        std::size_t n = 0;
        for (const GroupTransition& t : log)
            if (t.at > since && (g == static_cast<std::size_t>(-1) || t.group == g) &&
                t.transition.to == NodeState::kMaster)
                ++n;
        return n;
    }

  private:
    bool record(std::size_t node, std::size_t group, const std::optional<Transition>& t) {
        if (!t) return false;
        log.push_back(GroupTransition{clock.now(), node, group, *t});
        const SimGroupNode& n = nodes[node];
        n.hosts[group]->apply(address_step(*t, n.moves->drain(group).drained()),
                              release_linger(n.config.interval));
        return true;
    }

    void start_moves(std::size_t i) {
        SimGroupNode& n = nodes[i];
        n.hosts.clear();
        n.node_host = std::make_unique<SimNodeHost>();
        n.node_host->send = [this, i] { send_from(i); };
        n.moves = std::make_unique<PlannedMoves>(
            n.config.drain_timeout, n.config.interval, clock, *n.node_host,
            [&n](int, const std::string& line) { n.log_lines.push_back(line); });
        const bool several = n.elections->size() > 1;
        for (std::size_t g = 0; g < n.elections->size(); ++g) {
            n.hosts.push_back(std::make_unique<SimGroupHost>(clock));
            const AddressGroup& plan = n.elections->group(g);
            std::uint32_t mask = 0;
            for (std::size_t a : plan.addresses) mask |= 1u << a;
            n.moves->add_group(n.elections->election(g), *n.hosts.back(), plan.key, mask,
                               group_log_prefix(plan, several));
        }
        n.stop_requested = n.resigning = n.stopped = false;
    }

    // The heartbeat loop's planned-move steps, in its order (check_stop_request between the
    // preempting returns and the drains). A resigning node only hears and sends heartbeats
    // until its addresses are released, as the heartbeat process does; then it stops.
    // Returns false while resigning (no election timers then).
    bool run_moves_of(std::size_t i) {
        SimGroupNode& n = nodes[i];
        if (n.resigning) {
            if (n.moves->resign_progress() != PlannedMoves::ResignPhase::kDone) return false;
            n.moves->end_drains();
            n.stopped = true;
            crash(i);
            return false;
        }
        n.moves->check_preempting_returns();
        if (n.stop_requested && n.moves->drained_for_stop()) {
            n.moves->resign();
            n.resigning = true;
            return false;
        }
        n.moves->advance();
        return true;
    }

    void receive(const Datagram& dg) override {
        SimGroupNode& n = nodes[dg.to];
        if (!n.up) return;
        const auto hb = n.receiver->accept(dg.bytes.data(), dg.bytes.size(), dg.from);
        if (!hb) return;
        bool changed = false;
        for (std::size_t g = 0; g < n.elections->size(); ++g)
            if (const auto view = group_view(*hb, n.elections->group(g).key))
                changed |= record(dg.to, g, n.elections->election(g).on_heartbeat(*view));
        if (changed) send_from(dg.to);
    }

    void run_timers() override {
        for (std::size_t i = 0; i < nodes.size(); ++i)
            if (nodes[i].up) run_timers(i);
    }

    void run_timers(std::size_t i) {
        SimGroupNode& n = nodes[i];
        for (auto& h : n.hosts) h->poll();
        if (run_moves && !run_moves_of(i)) {
            if (n.up && clock.now() >= n.next_send) {
                send_from(i);
                n.next_send = clock.now() + n.config.interval;
            }
            return;
        }
        bool changed = false;
        for (std::size_t g = 0; g < n.elections->size(); ++g) {
            Election& e = n.elections->election(g);
            changed |= record(i, g, e.tick());
            // A handover changes only the flags of the next heartbeat: send it at once.
            if (!run_moves && hand_back && e.should_yield_to_backup() && !e.request_handover())
                changed = true;
        }
        if (changed || clock.now() >= n.next_send) {
            send_from(i);
            n.next_send = clock.now() + n.config.interval;
        }
    }
};

}  // namespace ha_heartbeat::testing
