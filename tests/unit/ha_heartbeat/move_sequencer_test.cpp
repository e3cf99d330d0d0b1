// Planned moves (move_sequencer.h) as the heartbeat process runs them, on the simulated group
// cluster (sim_group_cluster.h: real elections, encoder and receiver over a simulated network),
// with each drain's open connections set by the test.
#include <catch2/catch.hpp>

#include "loop_rules.h"
#include "sim_group_cluster.h"

using namespace ha_heartbeat;
using namespace ha_heartbeat::testing;

namespace {

using Nodes = std::vector<std::size_t>;

constexpr int kOpen = 3;  // connections a drain waits for

// Two nodes, one address, planned moves on, settled: one master.
struct Pair {
    SimGroupCluster c{2, service_addresses(1)};
    std::size_t master = 0;
    std::size_t backup = 1;

    Pair() {
        c.run_moves = true;
        c.start_all();
        c.run_for(1s);
        REQUIRE(c.masters(0).size() == 1);
        master = c.masters(0)[0];
        backup = 1 - master;
    }
    SimGroupHost& host() { return c.host(master, 0); }
    const PlannedMoves& moves() { return *c.nodes[master].moves; }
    std::chrono::nanoseconds interval() const { return c.nodes[master].config.interval; }
    std::chrono::nanoseconds drain_timeout() const { return c.nodes[master].config.drain_timeout; }
    // The drain is over and left nothing behind: gate open, children told nothing, the
    // addresses announced again if still held.
    bool drain_over() {
        return !moves().drain_active(0) && !host().closed() &&
               c.nodes[master].node_host->draining == 0 && !host().announcements_held;
    }
};

std::vector<std::size_t> held_by(const SimGroupCluster& c, std::size_t node) {
    std::vector<std::size_t> out;
    for (std::size_t g = 0; g < c.group_count(); ++g)
        if (c.masters(g) == Nodes{node}) out.push_back(g);
    return out;
}

}  // namespace

TEST_CASE("planned moves: a handover drains, then hands over") {
    Pair p;
    p.host().connections = kOpen;
    const auto asked = p.c.clock.now();
    p.c.request_handover(p.master);
    CHECK(p.host().closed());
    CHECK(p.host().announcements_held);
    CHECK(p.c.nodes[p.master].node_host->draining == 1u);
    CHECK(p.c.logged(p.master, "planned handover: draining the connections"));
    // While connections are open, nothing moves.
    p.c.run_for(p.drain_timeout() / 2);
    CHECK(p.c.masters(0) == Nodes{p.master});
    CHECK(p.c.election(p.master, 0).handover_target() == 0);
    CHECK(p.c.claims_since(asked) == 0);
    p.host().connections = 0;
    const auto drained = p.c.clock.now();
    const auto took =
        p.c.time_until([&] { return p.c.masters(0) == Nodes{p.backup}; }, 10 * p.interval());
    CHECK(took <= p.interval());      // a few steps: drained, heartbeat, claim, yield
    CHECK_FALSE(p.host().holding());  // released at the yield: no connection left to linger for
    CHECK(p.c.logged(p.master, "planned handover: drained in"));
    CHECK(p.c.logged(
        p.master, "handing over to node " + std::to_string(p.c.nodes[p.backup].config.node_id())));
    CHECK(p.c.claims_since(asked) == 1);
    CHECK(p.c.claims_since(drained) == 1);
    // The old master lingers, releases, and the drain ends.
    p.c.run_for(release_linger(p.interval()) + 2 * kStep);
    CHECK_FALSE(p.host().holding());
    CHECK(p.host().released_at > drained);
    CHECK(p.drain_over());
}

TEST_CASE("planned moves: a stop during a handover's drain takes the drain over") {
    Pair p;
    p.host().connections = kOpen;
    p.c.request_handover(p.master);
    p.c.run_for(p.drain_timeout() / 4);
    p.c.request_stop(p.master);
    p.c.run_for(p.drain_timeout() / 4);
    CHECK(p.moves().drain(0).kind() == MoveKind::kStop);
    CHECK(p.moves().drain(0).phase() == DrainPolicy::Phase::kDraining);
    CHECK_FALSE(p.c.election(p.master, 0).resigning());
    CHECK(p.c.masters(0) == Nodes{p.master});
    p.host().connections = 0;
    const auto drained = p.c.clock.now();
    const auto took = p.c.time_until([&] { return p.c.nodes[p.master].stopped; },
                                     resign_wait(p.interval()) + 10 * p.interval());
    CHECK(took <= resign_wait(p.interval()));
    CHECK(p.c.logged(p.master, "planned stop: drained in"));
    CHECK_FALSE(p.c.logged(p.master, "handing over to node"));
    CHECK(p.c.logged(p.master, "stopping: resigning as master"));
    CHECK(p.c.logged(p.master, "released the service addresses; a successor is master"));
    CHECK(p.c.masters(0) == Nodes{p.backup});
    CHECK(p.c.claims_since(drained, 0) == 1);
    CHECK(p.host().connections_at_release == 0);
    CHECK_FALSE(p.host().closed());  // the gate reopened when the stop was done
}

TEST_CASE("planned moves: a stop waits until every group the node holds has drained") {
    SimGroupCluster c(2, service_addresses(4));
    c.run_moves = true;
    c.start_all();
    c.run_for(1s);
    const std::size_t stopping = 0;
    const auto held = held_by(c, stopping);
    REQUIRE(held.size() == 2);
    const auto before = c.holders();
    c.host(stopping, held[0]).connections = 0;
    c.host(stopping, held[1]).connections = kOpen;
    const auto asked = c.clock.now();
    c.request_stop(stopping);
    const auto drain_timeout = c.nodes[stopping].config.drain_timeout;
    c.run_for(drain_timeout / 2);
    const PlannedMoves& moves = *c.nodes[stopping].moves;
    CHECK(moves.drain(held[0]).phase() == DrainPolicy::Phase::kMoving);
    CHECK(moves.drain(held[1]).phase() == DrainPolicy::Phase::kDraining);
    CHECK_FALSE(c.logged(stopping, "stopping: resigning"));
    for (std::size_t g = 0; g < c.group_count(); ++g)
        CHECK_FALSE(c.election(stopping, g).resigning());
    CHECK(c.holders() == before);
    CHECK(c.claims_since(asked) == 0);
    CHECK(c.host(stopping, held[0]).closed());  // drained, but held back until the other is
    c.host(stopping, held[1]).connections = 0;
    const auto drained = c.clock.now();
    const auto interval = c.nodes[stopping].config.interval;
    c.time_until([&] { return c.nodes[stopping].stopped; }, resign_wait(interval) * 2);
    REQUIRE(c.nodes[stopping].stopped);
    for (std::size_t g : held) {
        CAPTURE(g);
        CHECK(c.masters(g) == Nodes{1});
        CHECK(c.claims_since(drained, g) == 1);
        CHECK(c.host(stopping, g).released_at > drained);
    }
    CHECK(c.claims_since(asked) == held.size());
}

TEST_CASE("planned moves: a drain that outlives the timeout goes ahead") {
    Pair p;
    p.host().connections = kOpen;
    p.c.request_handover(p.master);
    const auto took = p.c.time_until(
        [&] { return p.c.election(p.master, 0).handover_target() != 0; }, 2 * p.drain_timeout());
    CHECK(took >= p.drain_timeout());
    CHECK(took <= p.drain_timeout() + 2 * kStep);
    CHECK(p.c.logged(p.master, "planned handover: drain timeout after"));
    CHECK(p.c.logged(p.master, std::to_string(kOpen) + " connection(s) still open"));
    p.c.time_until([&] { return p.c.masters(0) == Nodes{p.backup}; }, 10 * p.interval());
    CHECK(p.c.masters(0) == Nodes{p.backup});
    CHECK(p.host().holding());  // connections still open: the release lingers for them
    p.c.run_for(release_linger(p.interval()) + 2 * kStep);
    CHECK_FALSE(p.host().holding());
    CHECK(p.host().connections_at_release == kOpen);
    CHECK(p.drain_over());
}

TEST_CASE("planned moves: a handover refused at the end of the drain ends it; the node serves on") {
    Pair p;
    p.host().connections = kOpen;
    p.c.request_handover(p.master);
    // The backup goes away during the drain: nobody to hand over to when it ends.
    p.c.crash(p.backup);
    p.c.run_for(p.drain_timeout() / 2);
    REQUIRE(p.moves().drain(0).phase() == DrainPolicy::Phase::kDraining);
    p.host().connections = 0;
    p.c.run_for(2 * kStep);
    CHECK(p.c.logged(p.master, "planned handover: drained in"));
    CHECK(p.c.logged(p.master, "handover refused: no live backup"));
    CHECK(p.moves().handover_result().rfind("handover refused: ", 0) == 0);
    CHECK(p.drain_over());
    CHECK(p.c.masters(0) == Nodes{p.master});
    CHECK(p.host().holding());
}

TEST_CASE("planned moves: a handover whose successor never claims is called off") {
    Pair p;
    p.host().connections = kOpen;
    p.c.request_handover(p.master);
    p.c.run_for(p.drain_timeout() / 4);
    p.host().connections = 0;
    // The backup fails the moment the handover is asked of it, before it hears of it: it is
    // still live, so the master waits for its claim, which never comes.
    bool failed = false;
    p.c.run_for(2 * kStep, [&] {
        if (!failed && p.c.election(p.master, 0).handover_target() != 0) {
            p.c.set_fault(p.backup, true);
            failed = true;
        }
    });
    REQUIRE(failed);
    const auto took = p.c.time_until([&] { return p.c.logged(p.master, "handover called off"); },
                                     20 * p.interval());
    CHECK(took <= 20 * p.interval());
    CHECK(p.c.logged(
        p.master, "handover called off: the backup never claimed; keeping the service addresses"));
    CHECK(p.c.masters(0) == Nodes{p.master});
    CHECK(p.host().holding());
    CHECK(p.drain_over());
}

TEST_CASE("planned moves: a group that stops being master during its drain ends the drain") {
    Pair p;
    p.host().connections = kOpen;
    p.c.request_handover(p.master);
    p.c.run_for(p.drain_timeout() / 4);
    p.c.set_fault(p.master, true);
    p.c.run_for(kStep);
    CHECK(p.c.logged(p.master, "planned handover: no longer master, drain ended"));
    CHECK(p.moves().handover_result() == "handover overtaken: no longer master");
    CHECK(p.drain_over());
    CHECK_FALSE(p.host().holding());  // FAULT releases at once
    p.c.run_for(1s);
    CHECK(p.c.masters(0) == Nodes{p.backup});
}

TEST_CASE(
    "planned moves: a planned stop of one of three nodes moves its groups, each drained "
    "first, and nothing else") {
    for (std::size_t stopping = 0; stopping < 3; ++stopping) {
        CAPTURE(stopping);
        SimGroupCluster c(3, service_addresses(3));
        c.run_moves = true;
        c.start_all();
        c.run_for(1s);
        const auto before = c.holders();
        const auto held = held_by(c, stopping);
        REQUIRE_FALSE(held.empty());
        for (std::size_t g : held) c.host(stopping, g).connections = kOpen;
        const auto asked = c.clock.now();
        c.request_stop(stopping);
        const auto drain_timeout = c.nodes[stopping].config.drain_timeout;
        c.run_for(drain_timeout / 4);
        for (std::size_t g : held) CHECK(c.host(stopping, g).closed());
        CHECK(c.claims_since(asked) == 0);
        for (std::size_t g : held) c.host(stopping, g).connections = 0;
        const auto drained = c.clock.now();
        const auto interval = c.nodes[stopping].config.interval;
        c.time_until([&] { return c.nodes[stopping].stopped; }, resign_wait(interval) * 2);
        REQUIRE(c.nodes[stopping].stopped);
        c.run_for(1s);
        for (std::size_t g = 0; g < c.group_count(); ++g) {
            CAPTURE(g);
            const auto now = c.masters(g);
            REQUIRE(now.size() == 1);
            if (before[g] == Nodes{stopping}) {
                CHECK(now[0] != stopping);
                CHECK(c.claims_since(asked, g) == 1);
                CHECK(c.claims_since(drained, g) == 1);  // none before the drain ended
                const SimGroupHost& h = c.host(stopping, g);
                CHECK(h.closed_at < h.released_at);
                CHECK(h.connections_at_release == 0);
            } else {
                CHECK(now == before[g]);
                CHECK(c.claims_since(asked, g) == 0);
            }
        }
        CHECK(c.logged(stopping, "released the service addresses; a successor is master"));
    }
}
