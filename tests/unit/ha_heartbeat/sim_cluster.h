// A simulated cluster: nodes running the real Election and HeartbeatReceiver, exchanging real
// encoded datagrams over a network with configurable loss, delay (hence reordering),
// duplication and partitions, all on a simulated clock.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <queue>
#include <random>
#include <set>
#include <vector>

#include "election.h"
#include "heartbeat_receiver.h"
#include "sim_clock.h"

namespace ha_heartbeat::testing {

using namespace std::chrono_literals;

constexpr std::uint32_t kCluster = 9;
constexpr auto kStep = 5ms;

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

struct Datagram {
    std::chrono::nanoseconds deliver_at;
    std::uint64_t order;
    std::size_t to;
    WireAddress from;
    WireMessage bytes;
    bool operator>(const Datagram& o) const {
        return deliver_at != o.deliver_at ? deliver_at > o.deliver_at : order > o.order;
    }
};

class SimCluster {
  public:
    SecretKey key{"simulated shared secret"};
    SimClock clock;
    std::mt19937_64 rng{12345};
    double loss = 0;
    double duplication = 0;
    std::chrono::nanoseconds min_delay = 1ms, max_delay = 2ms;
    std::set<std::pair<std::size_t, std::size_t>> cut;  // directed links that drop everything
    std::vector<SimNode> nodes;
    // (sender, datagram) for replays: one entry per datagram, so one per peer per heartbeat.
    std::vector<std::pair<std::size_t, WireMessage>> captured;

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
    void partition(std::size_t a, std::size_t b) {
        cut.insert({a, b});
        cut.insert({b, a});
    }
    void heal() { cut.clear(); }

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
            const WireMessage m = encode(hb, key, n.address);
            captured.emplace_back(i, m);
            transmit(i, j, m);
        }
    }

    void inject(std::size_t to, const WireAddress& from, const WireMessage& m) {
        queue_.push(Datagram{clock.now(), order_++, to, from, m});
    }

    void run_for(
        std::chrono::nanoseconds d, const std::function<void()>& each_step = [] {}) {
        const auto end = clock.now() + d;
        while (clock.now() < end) {
            clock.advance(kStep);
            while (!queue_.empty() && queue_.top().deliver_at <= clock.now()) {
                Datagram dg = queue_.top();
                queue_.pop();
                SimNode& n = nodes[dg.to];
                if (!n.up) continue;
                auto hb = n.receiver->accept(dg.bytes.data(), dg.bytes.size(), dg.from);
                if (hb && record(dg.to, n.election->on_heartbeat(*hb))) send_from(dg.to);
            }
            for (std::size_t i = 0; i < nodes.size(); ++i) {
                SimNode& n = nodes[i];
                if (!n.up) continue;
                const bool changed = record(i, n.election->tick());
                if (changed || clock.now() >= n.next_send) {
                    send_from(i);
                    n.next_send = clock.now() + n.config.interval;
                }
            }
            each_step();
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

    // Runs until `pred` holds or `limit` passes; returns the time it took (or limit + 1ns).
    template <class Pred>
    std::chrono::nanoseconds time_until(Pred pred, std::chrono::nanoseconds limit) {
        const auto start = clock.now();
        while (clock.now() - start <= limit) {
            if (pred()) return clock.now() - start;
            run_for(kStep);
        }
        return limit + 1ns;
    }

  private:
    bool record(std::size_t i, const std::optional<Transition>& t) {
        if (t) nodes[i].transitions.push_back(*t);
        return t.has_value();
    }
    void transmit(std::size_t from, std::size_t to, const WireMessage& m) {
        if (cut.count({from, to})) return;
        std::uniform_real_distribution<double> u(0, 1);
        if (u(rng) < loss) return;
        const int copies = u(rng) < duplication ? 2 : 1;
        for (int c = 0; c < copies; ++c) {
            std::uniform_int_distribution<std::int64_t> delay(min_delay.count(), max_delay.count());
            queue_.push(Datagram{clock.now() + std::chrono::nanoseconds(delay(rng)), order_++, to,
                                 nodes[from].address, m});
        }
    }

    std::priority_queue<Datagram, std::vector<Datagram>, std::greater<Datagram>> queue_;
    std::uint64_t order_ = 0;
};

}  // namespace ha_heartbeat::testing
