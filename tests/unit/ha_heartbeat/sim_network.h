// The simulated network of the cluster simulations (sim_cluster.h, sim_group_cluster.h): real
// encoded datagrams with configurable loss, delay (hence reordering), duplication and
// partitions, on a simulated clock. Nodes are numbered 0..n-1 by their simulation.
#pragma once

#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <set>
#include <utility>
#include <vector>

#include "sim_clock.h"
#include "wire_codec.h"

namespace ha_heartbeat::testing {

using namespace std::chrono_literals;

constexpr std::uint32_t kCluster = 9;
constexpr auto kStep = 5ms;

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

class SimNetwork {
  public:
    SecretKey key{"simulated shared secret"};
    SimClock clock;
    std::mt19937_64 rng{12345};
    double loss = 0;
    double duplication = 0;
    std::chrono::nanoseconds min_delay = 1ms, max_delay = 2ms;
    std::set<std::pair<std::size_t, std::size_t>> cut;  // directed links that drop everything
    // (sender, datagram) for replays: one entry per datagram, so one per peer per heartbeat.
    std::vector<std::pair<std::size_t, WireMessage>> captured;

    void partition(std::size_t a, std::size_t b) {
        cut.insert({a, b});
        cut.insert({b, a});
    }
    void heal() { cut.clear(); }

    // Delivered at the next step, whatever the links say (an attacker on the LAN).
    void inject(std::size_t to, const WireAddress& from, const WireMessage& m) {
        queue_.push(Datagram{clock.now(), order_++, to, from, m});
    }

    // One datagram from node `from` (at `source`) to node `to`, through loss, duplication, delay
    // and the cut links.
    void send(std::size_t from, const WireAddress& source, std::size_t to, const WireMessage& m) {
        captured.emplace_back(from, m);
        if (cut.count({from, to})) return;
        std::uniform_real_distribution<double> u(0, 1);
        if (u(rng) < loss) return;
        const int copies = u(rng) < duplication ? 2 : 1;
        for (int c = 0; c < copies; ++c) {
            std::uniform_int_distribution<std::int64_t> delay(min_delay.count(), max_delay.count());
            queue_.push(Datagram{clock.now() + std::chrono::nanoseconds(delay(rng)), order_++, to,
                                 source, m});
        }
    }

    // Advances the clock by kStep at a time for `d`; at each step every datagram due is
    // received (in order of arrival), then every node's timers run, then `each_step`.
    void run_for(
        std::chrono::nanoseconds d, const std::function<void()>& each_step = [] {}) {
        const auto end = clock.now() + d;
        while (clock.now() < end) {
            clock.advance(kStep);
            while (!queue_.empty() && queue_.top().deliver_at <= clock.now()) {
                const Datagram dg = queue_.top();
                queue_.pop();
                receive(dg);
            }
            run_timers();
            each_step();
        }
    }

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

  protected:
    SimNetwork() = default;
    virtual ~SimNetwork() = default;
    // What the simulated nodes do: a datagram arrives at dg.to; a step of every node's loop.
    virtual void receive(const Datagram& dg) = 0;
    virtual void run_timers() = 0;

  private:
    std::priority_queue<Datagram, std::vector<Datagram>, std::greater<Datagram>> queue_;
    std::uint64_t order_ = 0;
};

}  // namespace ha_heartbeat::testing
