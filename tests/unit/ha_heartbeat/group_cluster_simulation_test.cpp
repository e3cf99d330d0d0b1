// Active-active: several address groups spread over the nodes, each with its own election fed
// by one heartbeat stream per node, over the simulated network (sim_group_cluster.h).
#include <catch2/catch.hpp>
#include <set>
#include <tuple>

#include "sim_group_cluster.h"

using namespace ha_heartbeat;
using namespace ha_heartbeat::testing;

namespace {

using Holders = std::vector<std::vector<std::size_t>>;

struct Shape {
    std::size_t nodes;
    std::size_t groups;
};
constexpr Shape kThreeByThree{3, 3};
constexpr Shape kFourByEight{4, 8};

// Every group has exactly one master, and it is the group's home.
bool at_homes(const SimGroupCluster& c) {
    const auto homes = c.homes();
    for (std::size_t g = 0; g < homes.size(); ++g)
        if (c.masters(g) != std::vector<std::size_t>{homes[g]}) return false;
    return true;
}

std::size_t groups_with_two_masters(const SimGroupCluster& c) {
    std::size_t n = 0;
    for (std::size_t g = 0; g < c.group_count(); ++g) n += c.masters(g).size() > 1 ? 1 : 0;
    return n;
}

std::size_t groups_without_master(const SimGroupCluster& c) {
    std::size_t n = 0;
    for (std::size_t g = 0; g < c.group_count(); ++g) n += c.masters(g).empty() ? 1 : 0;
    return n;
}

std::vector<std::size_t> home_groups_of(const SimGroupCluster& c, std::size_t node) {
    std::vector<std::size_t> out;
    const auto homes = c.homes();
    for (std::size_t g = 0; g < homes.size(); ++g)
        if (homes[g] == node) out.push_back(g);
    return out;
}

// The longest any node may take to find a dead peer dead: the dead interval at the lowest
// priority the plan hands out (the largest skew), for the default interval.
std::chrono::nanoseconds longest_dead_interval(SimGroupCluster& c) {
    std::chrono::nanoseconds longest{0};
    for (std::size_t i = 0; i < c.nodes.size(); ++i)
        for (std::size_t g = 0; g < c.group_count(); ++g)
            longest = std::max(longest, c.election(i, g).dead_interval_for(kDefaultInterval));
    return longest;
}

// The running node that ranks highest for group g: (effective priority, node id).
std::size_t best_running(SimGroupCluster& c, std::size_t g) {
    std::size_t best = c.nodes.size();
    auto rank = [&](std::size_t i) {
        return std::make_tuple(c.election(i, g).effective_priority(), c.nodes[i].config.node_id());
    };
    for (std::size_t i = 0; i < c.nodes.size(); ++i)
        if (c.nodes[i].up && (best == c.nodes.size() || rank(i) > rank(best))) best = i;
    return best;
}

}  // namespace

TEST_CASE("active-active: after start every group has one master, its home, claimed once") {
    for (const Shape shape : {kThreeByThree, kFourByEight}) {
        CAPTURE(shape.nodes, shape.groups);
        SimGroupCluster c(shape.nodes, service_addresses(shape.groups));
        REQUIRE(c.group_count() == shape.groups);
        c.start_all();
        std::size_t doubled = 0;
        c.run_for(1s, [&] { doubled += groups_with_two_masters(c); });
        CHECK(doubled == 0);
        CHECK(at_homes(c));
        CHECK(c.claims_since(0ns) == shape.groups);  // nobody claimed and let go again
        for (std::size_t node = 0; node < shape.nodes; ++node)
            CHECK(home_groups_of(c, node).size() == shape.groups / shape.nodes);
        // And it stays so.
        const auto settled = c.clock.now();
        c.run_for(5s);
        CHECK(at_homes(c));
        CHECK(c.claims_since(settled) == 0);
    }
}

TEST_CASE("active-active: a dead node's groups move, each to one survivor; nothing else moves") {
    for (const Shape shape : {kThreeByThree, kFourByEight}) {
        for (std::size_t dead = 0; dead < shape.nodes; ++dead) {
            CAPTURE(shape.nodes, shape.groups, dead);
            SimGroupCluster c(shape.nodes, service_addresses(shape.groups));
            c.start_all();
            c.run_for(1s);
            REQUIRE(at_homes(c));
            const Holders before = c.holders();
            const auto moving = home_groups_of(c, dead);
            const auto dead_interval = longest_dead_interval(c);
            c.crash(dead);
            const auto crashed = c.clock.now();
            std::size_t doubled = 0;
            const auto took = c.time_until(
                [&] {
                    doubled += groups_with_two_masters(c);
                    return groups_without_master(c) == 0;
                },
                2s);
            // Found dead within the dead interval, plus a step to notice and one to claim.
            CHECK(took <= dead_interval + 2 * kStep);
            c.run_for(2s, [&] { doubled += groups_with_two_masters(c); });
            CHECK(doubled == 0);
            std::set<std::size_t> takers;
            for (std::size_t g = 0; g < shape.groups; ++g) {
                CAPTURE(g);
                const auto now = c.masters(g);
                REQUIRE(now.size() == 1);
                if (before[g][0] == dead) {
                    CHECK(now[0] != dead);
                    CHECK(c.claims_since(crashed, g) == 1);  // one survivor, once
                    takers.insert(now[0]);
                } else {
                    CHECK(now == before[g]);
                    CHECK(c.claims_since(crashed, g) == 0);
                }
            }
            // Spread: a node that held several groups leaves each to a different survivor.
            CHECK(takers.size() == moving.size());
            // Only the elections of its groups changed state anywhere.
            for (const GroupTransition& t : c.log)
                if (t.at >= crashed)
                    CHECK(std::find(moving.begin(), moving.end(), t.group) != moving.end());
        }
    }
}

TEST_CASE("active-active: a returning node (preempt on) takes back exactly its home groups") {
    // hand_back: the interim holder hands over as the glue does after its drain; without, the
    // returning node preempts by itself once its handover wait (HADrainTimeout + 10 intervals)
    // is over.
    for (const bool hand_back : {true, false}) {
        for (const Shape shape : {kThreeByThree, kFourByEight}) {
            CAPTURE(hand_back, shape.nodes, shape.groups);
            SimGroupCluster c(shape.nodes, service_addresses(shape.groups));
            c.hand_back = hand_back;
            const std::size_t away = 1;
            c.start_all();
            c.run_for(1s);
            REQUIRE(at_homes(c));
            c.crash(away);
            c.run_for(2s);
            const Holders interim = c.holders();
            const auto returning = home_groups_of(c, away);
            c.start(away);
            const auto back = c.clock.now();
            std::size_t without = 0;
            std::chrono::nanoseconds longest_overlap{0}, overlap{0};
            const auto limit = c.nodes[away].config.drain_timeout + 2s;
            const auto took = c.time_until(
                [&] {
                    without += groups_without_master(c);
                    overlap = groups_with_two_masters(c) > 0 ? overlap + kStep : 0ns;
                    longest_overlap = std::max(longest_overlap, overlap);
                    return at_homes(c);
                },
                limit);
            CHECK(took <= limit);
            c.run_for(2s, [&] { without += groups_without_master(c); });
            CHECK(at_homes(c));
            CHECK(without == 0);  // a planned move: the interim holder keeps it meanwhile
            // The new master announces before the old one hears it: one step of overlap.
            CHECK(longest_overlap <= 2 * kStep);
            // Exactly its home groups moved, once each, to it; the interim holders let go once.
            CHECK(c.claims_since(back) == returning.size());
            for (std::size_t g = 0; g < shape.groups; ++g) {
                CAPTURE(g);
                const bool its =
                    std::find(returning.begin(), returning.end(), g) != returning.end();
                CHECK(c.claims_since(back, g) == (its ? 1u : 0u));
                std::size_t let_go = 0;
                for (const GroupTransition& t : c.log)
                    if (t.at >= back && t.group == g && t.transition.from == NodeState::kMaster) {
                        ++let_go;
                        CHECK(t.node == interim[g][0]);
                    }
                CHECK(let_go == (its ? 1u : 0u));
            }
        }
    }
}

TEST_CASE("active-active: after a partition {A} | {B, C} heals one master per group remains") {
    SimGroupCluster c(3, service_addresses(3));
    c.start_all();
    c.run_for(1s);
    REQUIRE(at_homes(c));
    const std::size_t a = 0;
    c.isolate(a);
    c.run_for(2s);
    // Each side serves every group: A alone holds all three; B and C one each of theirs, and
    // one of them A's.
    for (std::size_t g = 0; g < 3; ++g) {
        CAPTURE(g);
        const auto m = c.masters(g);
        REQUIRE(m.size() == 2);
        CHECK(m[0] == a);
    }
    c.heal();
    const auto took = c.time_until([&] { return groups_with_two_masters(c) == 0; }, 1s);
    CHECK(took <= 2 * kDefaultInterval);
    std::size_t doubled = 0, without = 0;
    c.run_for(5s, [&] {
        doubled += groups_with_two_masters(c);
        without += groups_without_master(c);
    });
    CHECK(doubled == 0);
    CHECK(without == 0);
    CHECK(at_homes(c));
}

TEST_CASE("active-active on a lossy network: a group's second master is short-lived") {
    // Loss, 5% duplicates, 0..40 ms delay (reordering): now and then a run of losses makes a
    // backup find a group's master dead, and it claims. It yields at the first heartbeat of the
    // real master that gets through, so the episode outlasts k more intervals with probability
    // loss^k: at 10% loss it stays under a dead interval; at 20% a tail beyond it is expected
    // (two more intervals allowed). Seeded: the figures do not vary between runs (measured:
    // 3x3 longest 155 ms at 10%, 375 ms at 20%; 4x8 105 ms and 390 ms; dead interval 300 to
    // 316 ms).
    for (const double loss : {0.1, 0.2}) {
        for (const Shape shape : {kThreeByThree, kFourByEight}) {
            CAPTURE(loss, shape.nodes, shape.groups);
            SimGroupCluster c(shape.nodes, service_addresses(shape.groups));
            c.loss = loss;
            c.duplication = 0.05;
            c.min_delay = 0ms;
            c.max_delay = 40ms;
            c.start_all();
            c.run_for(2s);
            REQUIRE(at_homes(c));
            const auto bound = longest_dead_interval(c) + (loss > 0.1 ? 2 * kDefaultInterval : 0ns);
            std::vector<std::chrono::nanoseconds> current(shape.groups);
            std::chrono::nanoseconds longest{0};
            std::size_t episodes = 0, without = 0;
            c.run_for(120s, [&] {
                for (std::size_t g = 0; g < shape.groups; ++g) {
                    const auto m = c.masters(g);
                    without += m.empty() ? 1 : 0;
                    if (m.size() > 1) {
                        if (current[g].count() == 0) ++episodes;
                        current[g] += kStep;
                        longest = std::max(longest, current[g]);
                    } else {
                        current[g] = 0ns;
                    }
                }
            });
            CAPTURE(episodes, longest.count(), bound.count());
            CHECK(episodes > 0);  // the scenario did happen
            CHECK(without == 0);  // the real masters never let go
            CHECK(longest <= bound);
            CHECK(at_homes(c));
        }
    }
}

TEST_CASE("active-active: nodes started one by one: each group moves only to a better node") {
    // The best running node holds each group: the first node all of them, then each node that
    // starts takes its home groups and those of nodes not yet started for which it is the
    // first successor; no other group moves, and none is ever without a master.
    SimGroupCluster c(kFourByEight.nodes, service_addresses(kFourByEight.groups));
    c.start(0);
    c.run_for(1s);
    for (std::size_t g = 0; g < kFourByEight.groups; ++g)
        CHECK(c.masters(g) == std::vector<std::size_t>{0});
    for (std::size_t next = 1; next < kFourByEight.nodes; ++next) {
        CAPTURE(next);
        const Holders before = c.holders();
        const auto joined = c.clock.now();
        c.start(next);
        std::size_t without = 0;
        c.run_for(1s, [&] { without += groups_without_master(c); });
        CHECK(without == 0);
        std::size_t moved = 0;
        for (std::size_t g = 0; g < kFourByEight.groups; ++g) {
            CAPTURE(g);
            const std::size_t best = best_running(c, g);
            CHECK(c.masters(g) == std::vector<std::size_t>{best});
            if (best != before[g][0]) {
                ++moved;
                CHECK(best == next);  // a group moves only to the node that came
            }
            CHECK(c.claims_since(joined, g) == (best != before[g][0] ? 1u : 0u));
        }
        CHECK(moved >= home_groups_of(c, next).size());
    }
    CHECK(at_homes(c));
}

TEST_CASE("one address on two nodes is the classic pair: HAPriority decides") {
    SimGroupCluster c(2, service_addresses(1));
    c.nodes[0].config.priority = 100;
    c.nodes[1].config.priority = 200;
    c.start_all();
    c.run_for(1s);
    CHECK(c.masters(0) == std::vector<std::size_t>{1});
    c.crash(1);
    c.run_for(1s);
    CHECK(c.masters(0) == std::vector<std::size_t>{0});
    c.start(1);
    c.run_for(1s);
    CHECK(c.masters(0) == std::vector<std::size_t>{1});  // preempt on, handed back
}

TEST_CASE("active-active: a node in FAULT gives up all its groups at once and takes back its own") {
    SimGroupCluster c(kThreeByThree.nodes, service_addresses(kThreeByThree.groups));
    c.start_all();
    c.run_for(1s);
    REQUIRE(at_homes(c));
    const std::size_t sick = 2;
    const auto its = home_groups_of(c, sick);
    for (std::size_t g = 0; g < c.group_count(); ++g)
        c.election(sick, g).set_health(true, 0, "interface eth0 has no carrier");
    c.send_from(sick);  // its next heartbeat says FAULT in every entry
    // A FAULT peer is no candidate: no dead interval to wait out, one network delay.
    const auto took = c.time_until([&] { return groups_without_master(c) == 0; }, 1s);
    CHECK(took <= 2 * kStep);
    for (std::size_t g : its) CHECK(c.masters(g) != std::vector<std::size_t>{sick});
    const auto recovered = c.clock.now();
    for (std::size_t g = 0; g < c.group_count(); ++g)
        c.election(sick, g).set_health(false, 0, "carrier back");
    c.run_for(2s);
    CHECK(at_homes(c));
    CHECK(c.claims_since(recovered) == its.size());
}
