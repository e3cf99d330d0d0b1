// A simulated cluster: nodes running the real Election and HeartbeatReceiver, exchanging real
// encoded datagrams over the simulated network (sim_network.h).
#pragma once

#include <memory>
#include <vector>

#include "election.h"
#include "heartbeat_receiver.h"
#include "sim_network.h"

namespace ha_heartbeat::testing {

struct SimNode {
    ElectionConfig config;
    WireAddress address{};
    std::unique_ptr<Election> election;
    std::unique_ptr<HeartbeatReceiver> receiver;
    std::uint64_t epoch = 0;
    std::uint64_t sequence = 0;
    std::chrono::nanoseconds next_send{0};
    bool up = false;
    std::vector<Transition> transitions;
};

class SimCluster : public SimNetwork {
  public:
    std::vector<SimNode> nodes;

    std::size_t add(int priority, bool preempt = true, std::chrono::nanoseconds preempt_delay = 0ns,
                    std::chrono::nanoseconds interval = 100ms) {
        SimNode n;
        n.config.node_id = static_cast<std::uint32_t>(nodes.size() + 1);
        n.config.priority = priority;
        n.config.interval = interval;
        n.config.preempt = preempt;
        n.config.preempt_delay = preempt_delay;
        const std::uint8_t v4[4] = {10, 231, 0, static_cast<std::uint8_t>(nodes.size() + 1)};
        n.address = wire_address_v4(v4);
        nodes.push_back(std::move(n));
        return nodes.size() - 1;
    }

    void start(std::size_t i) {
        SimNode& n = nodes[i];
        std::vector<WireAddress> peers;
        for (std::size_t j = 0; j < nodes.size(); ++j)
            if (j != i) peers.push_back(nodes[j].address);
        n.election = std::make_unique<Election>(n.config, clock);
        n.receiver = std::make_unique<HeartbeatReceiver>(key, kCluster, n.config.node_id, peers);
        ++n.epoch;
        n.sequence = 0;
        n.up = true;
        record(i, n.election->start());
        n.next_send = clock.now();
    }
    void start_all() {
        for (std::size_t i = 0; i < nodes.size(); ++i) start(i);
    }
    // A crash: the node goes silent and forgets everything but its epoch counter (its replay
    // marks and its challenge too: start() draws a new one).
    void crash(std::size_t i) {
        nodes[i].up = false;
        nodes[i].election.reset();
        nodes[i].receiver.reset();
    }
    void send_from(std::size_t i) {
        SimNode& n = nodes[i];
        Heartbeat hb = n.election->outgoing();
        hb.cluster_id = kCluster;
        hb.boot_epoch = n.epoch;
        hb.sequence = ++n.sequence;
        hb.challenge = n.receiver->challenge();
        // As the heartbeat process does: one message per peer, echoing that peer's challenge.
        for (std::size_t j = 0; j < nodes.size(); ++j) {
            if (j == i) continue;
            hb.echo = n.receiver->echo_for(nodes[j].address);
            send(i, n.address, j, encode(hb, key, n.address));
        }
    }

    // The whole machine stops for `d` (a VM paused, a host suspended): nothing is sent or
    // delivered meanwhile, as on one host where every node stops. With `noticed`, each node's
    // loop sees its wait end that much late and tells its election (Election::on_local_pause),
    // as the heartbeat process does; without, the election is left to judge the silence alone.
    void pause_machine(std::chrono::nanoseconds d, bool noticed = true) {
        clock.advance(d);
        for (SimNode& n : nodes)
            if (n.up && noticed) n.election->on_local_pause(d - kStep);
    }

    std::vector<std::size_t> masters() const {
        std::vector<std::size_t> out;
        for (std::size_t i = 0; i < nodes.size(); ++i)
            if (nodes[i].up && nodes[i].election->state() == NodeState::kMaster) out.push_back(i);
        return out;
    }
    NodeState state(std::size_t i) const { return nodes[i].election->state(); }

  private:
    bool record(std::size_t i, const std::optional<Transition>& t) {
        if (t) nodes[i].transitions.push_back(*t);
        return t.has_value();
    }

    void receive(const Datagram& dg) override {
        SimNode& n = nodes[dg.to];
        if (!n.up) return;
        auto hb = n.receiver->accept(dg.bytes.data(), dg.bytes.size(), dg.from);
        if (hb && record(dg.to, n.election->on_heartbeat(*hb))) send_from(dg.to);
    }

    void run_timers() override {
        for (std::size_t i = 0; i < nodes.size(); ++i) {
            SimNode& n = nodes[i];
            if (!n.up) continue;
            const bool changed = record(i, n.election->tick());
            if (changed || clock.now() >= n.next_send) {
                send_from(i);
                n.next_send = clock.now() + n.config.interval;
            }
        }
    }
};

}  // namespace ha_heartbeat::testing
