// The election and the receive path together, over a simulated lossy network.
#include <catch2/catch.hpp>

#include "sim_cluster.h"

using namespace ha_heartbeat;
using namespace ha_heartbeat::testing;

namespace {
// The longest a healthy cluster may be without exactly one master once settled.
bool one_master(const SimCluster& c) {
    return c.masters().size() == 1;
}
}  // namespace

TEST_CASE("two nodes elect the higher priority and keep exactly one master on a good network") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(100);
    c.loss = 0.02;
    c.duplication = 0.05;
    c.min_delay = 0ms;
    c.max_delay = 40ms;  // reorders consecutive heartbeats
    c.start_all();
    c.run_for(1s);
    REQUIRE(c.masters() == std::vector<std::size_t>{a});
    int violations = 0;
    c.run_for(30s, [&] { violations += one_master(c) ? 0 : 1; });
    CHECK(violations == 0);
    CHECK(c.state(b) == NodeState::kBackup);
    CHECK(c.nodes[b].receiver->drops().replayed > 0);  // duplicates and reordering were seen
}

TEST_CASE(
    "on a very lossy network a spurious second master yields at the first heartbeat it hears") {
    // 30% loss: now and then a run of lost heartbeats makes the backup declare the master dead.
    // The run is deterministic (seeded), so the numbers below do not vary between runs.
    SimCluster c;
    const auto a = c.add(200), b = c.add(100);
    c.loss = 0.3;
    c.duplication = 0.05;
    c.min_delay = 0ms;
    c.max_delay = 40ms;
    c.start_all();
    c.run_for(1s);
    REQUIRE(c.masters() == std::vector<std::size_t>{a});
    const auto run = 60s;
    int no_master = 0, episodes = 0;
    std::chrono::nanoseconds current{0}, longest{0}, total{0};
    c.run_for(run, [&] {
        const auto m = c.masters();
        no_master += m.empty() ? 1 : 0;
        if (m.size() > 1) {
            if (current.count() == 0) ++episodes;
            current += kStep;
            total += kStep;
            longest = std::max(longest, current);
        } else {
            current = 0ns;
        }
    });
    CHECK(no_master == 0);  // the real master never let go
    CHECK(episodes > 0);    // the scenario did happen
    // Each episode lasts until one of a's heartbeats gets through: a few intervals at most.
    CHECK(longest <= 500ms);
    CHECK(total < run / 20);
    for (const auto& t : c.nodes[b].transitions)
        if (t.from == NodeState::kMaster)
            CHECK(t.reason.rfind("yielding to higher-ranked master", 0) == 0);
    CHECK(c.masters() == std::vector<std::size_t>{a});
}

TEST_CASE("when the master crashes the backup takes over within its dead interval") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(100);
    c.start_all();
    c.run_for(1s);
    REQUIRE(c.masters() == std::vector<std::size_t>{a});
    c.crash(a);
    const auto dead = c.nodes[b].election->dead_interval_for(100ms);
    const auto took = c.time_until([&] { return c.state(b) == NodeState::kMaster; }, 2s);
    CHECK(took <= dead + 2 * kStep);
    CHECK(took >= dead - 100ms);  // it did wait for the master to be declared dead
}

TEST_CASE("a planned stop hands the addresses over within one network delay") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(100);
    c.start_all();
    c.run_for(1s);
    c.nodes[a].election->resign();
    c.send_from(a);
    const auto took = c.time_until([&] { return c.state(b) == NodeState::kMaster; }, 2s);
    CHECK(took <= 10ms);
    // The resigning node sees its successor and may now release.
    const auto seen = c.time_until([&] { return c.nodes[a].election->successor_is_master(); }, 1s);
    CHECK(seen <= 20ms);
}

TEST_CASE("a recovered higher-priority node takes the master role back with preempt on") {
    SimCluster c;
    const auto a = c.add(200, true), b = c.add(100);
    c.start_all();
    c.run_for(1s);
    c.crash(a);
    c.run_for(1s);
    REQUIRE(c.masters() == std::vector<std::size_t>{b});
    c.start(a);  // new boot epoch, sequence starts again at 1: must not look like a replay
    c.run_for(200ms);
    CHECK(c.masters() == std::vector<std::size_t>{a});
    CHECK(c.nodes[b].receiver->drops().replayed == 0);
}

TEST_CASE("with preempt off a recovered higher-priority node stays backup") {
    SimCluster c;
    const auto a = c.add(200, false), b = c.add(100, false);
    c.start_all();
    c.run_for(1s);
    c.crash(a);
    c.run_for(1s);
    c.start(a);
    c.run_for(5s);
    CHECK(c.masters() == std::vector<std::size_t>{b});
    CHECK(c.state(a) == NodeState::kBackup);
}

TEST_CASE("preempt delay postpones the take-back") {
    SimCluster c;
    const auto a = c.add(200, true, 2s), b = c.add(100);
    c.start_all();
    c.run_for(3s);
    c.crash(a);
    c.run_for(1s);
    c.start(a);
    c.run_for(1500ms);
    CHECK(c.masters() == std::vector<std::size_t>{b});
    c.run_for(1s);
    CHECK(c.masters() == std::vector<std::size_t>{a});
}

TEST_CASE("a partition makes two masters; after it heals one remains within two intervals") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(100);
    c.start_all();
    c.run_for(1s);
    c.partition(a, b);
    c.run_for(2s);
    CHECK(c.masters().size() == 2);  // each side serves its half
    c.heal();
    const auto took = c.time_until([&] { return one_master(c); }, 1s);
    CHECK(took <= 200ms);
    CHECK(c.masters() == std::vector<std::size_t>{a});
    int violations = 0;
    c.run_for(5s, [&] { violations += one_master(c) ? 0 : 1; });
    CHECK(violations == 0);
}

TEST_CASE("three nodes: the second-best backup wins when the master dies, never the third") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(150), d = c.add(100);
    c.loss = 0.1;
    c.max_delay = 20ms;
    c.start_all();
    c.run_for(1s);
    REQUIRE(c.masters() == std::vector<std::size_t>{a});
    c.crash(a);
    int violations = 0;
    c.run_for(3s, [&] { violations += c.masters().size() > 1 ? 1 : 0; });
    CHECK(violations == 0);
    CHECK(c.masters() == std::vector<std::size_t>{b});
    CHECK(c.state(d) == NodeState::kBackup);
    for (const auto& t : c.nodes[d].transitions) CHECK(t.to != NodeState::kMaster);
}

TEST_CASE("a handover moves the master role to the best backup with no moment without a master") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(150), d = c.add(100);
    c.start_all();
    c.run_for(1s);
    REQUIRE_FALSE(c.nodes[a].election->request_handover().has_value());
    int no_master = 0;
    c.run_for(2s, [&] { no_master += c.masters().empty() ? 1 : 0; });
    CHECK(no_master == 0);
    CHECK(c.masters() == std::vector<std::size_t>{b});
    CHECK(c.state(a) == NodeState::kBackup);  // and it does not preempt back
    CHECK(c.state(d) == NodeState::kBackup);
    // A backup refuses a handover request.
    CHECK(c.nodes[d].election->request_handover().has_value());
    // The yield ends when the new master disappears: the old one claims again.
    c.crash(b);
    c.run_for(1s);
    CHECK(c.masters() == std::vector<std::size_t>{a});
}

TEST_CASE("replayed and forged heartbeats from a third party move nothing") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(100);
    c.start_all();
    c.run_for(1s);
    // Record the master's traffic, let it fail over to b, then replay a's old MASTER messages.
    std::vector<WireMessage> recorded;
    for (const auto& [sender, m] : c.captured)
        if (sender == a) recorded.push_back(m);
    c.crash(a);
    c.run_for(1s);
    REQUIRE(c.masters() == std::vector<std::size_t>{b});
    const auto before = c.nodes[b].receiver->drops();
    for (const auto& m : recorded) c.inject(b, c.nodes[a].address, m);
    // Forged: a valid-looking MASTER heartbeat at priority 254, signed with a guessed key.
    Heartbeat forged;
    forged.cluster_id = kCluster;
    forged.node_id = 1;
    forged.priority = 254;
    forged.state = NodeState::kMaster;
    forged.interval_us = 100000;
    forged.boot_epoch = 1000;
    forged.sequence = 1;
    for (int i = 0; i < 50; ++i) {
        forged.sequence = static_cast<std::uint64_t>(i + 1);
        c.inject(b, c.nodes[a].address, encode(forged, SecretKey("guess"), c.nodes[a].address));
    }
    c.run_for(1s);
    CHECK(c.masters() == std::vector<std::size_t>{b});
    const auto& after = c.nodes[b].receiver->drops();
    CHECK(after.replayed - before.replayed >= recorded.size() / 2);
    CHECK(after.bad_mac - before.bad_mac == 50);
    for (const auto& t : c.nodes[b].transitions)
        CHECK((t.to != NodeState::kBackup || t.from == NodeState::kInit));
}

TEST_CASE("a health penalty below the backup's priority lets a preempting backup take over") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(150);
    c.start_all();
    c.run_for(1s);
    c.nodes[a].election->set_health(false, 100, "balancer has no usable member");
    c.run_for(300ms);
    CHECK(c.masters() == std::vector<std::size_t>{b});
    c.nodes[a].election->set_health(false, 0, "recovered");
    c.run_for(300ms);
    CHECK(c.masters() == std::vector<std::size_t>{a});
}

TEST_CASE("a master whose health fails hard goes to FAULT and the backup takes over at once") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(100);
    c.start_all();
    c.run_for(1s);
    auto t = c.nodes[a].election->set_health(true, 0, "interface eth0 has no carrier");
    REQUIRE(t);
    CHECK(t->to == NodeState::kFault);
    c.send_from(a);  // its next heartbeat says FAULT
    const auto took = c.time_until([&] { return c.state(b) == NodeState::kMaster; }, 1s);
    CHECK(took <= 10ms);  // a FAULT peer is no candidate: no dead interval to wait out
    c.nodes[a].election->set_health(false, 0, "carrier back");
    c.run_for(1s);
    CHECK(c.masters() == std::vector<std::size_t>{a});  // preempt on
}

TEST_CASE("a restarted backup ignores recorded heartbeats of its dead master and claims") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(100);
    c.start_all();
    c.run_for(3s);
    REQUIRE(c.masters() == std::vector<std::size_t>{a});
    // Three seconds of a's MASTER heartbeats to b, as an attacker on the LAN records them.
    std::vector<WireMessage> recorded;
    for (const auto& [sender, m] : c.captured)
        if (sender == a) recorded.push_back(m);
    REQUIRE(recorded.size() >= 25);
    // The master dies, and the backup restarts (its replay marks, in memory, are gone).
    c.crash(a);
    c.crash(b);
    c.start(b);
    // The attacker replays the recording at its original pace, from a's address.
    std::size_t next = 0;
    auto replay_pace = c.clock.now();
    const auto took = c.time_until(
        [&] {
            if (next < recorded.size() && c.clock.now() >= replay_pace) {
                c.inject(b, c.nodes[a].address, recorded[next++]);
                replay_pace = c.clock.now() + 100ms;
            }
            return c.state(b) == NodeState::kMaster;
        },
        2s);
    // Claimed within a dead interval or so, while the replay still ran: the recorded
    // messages echo the challenge of b's previous run, so none counted as a live master.
    CHECK(took < 1s);
    CHECK(next < recorded.size());
    CHECK(c.nodes[b].receiver->drops().unconfirmed > 0);
    CHECK(c.nodes[b].receiver->accepted() == 0);
    CHECK(c.masters() == std::vector<std::size_t>{b});
}

TEST_CASE("peers confirm each other's challenge within a round trip of starting") {
    SimCluster c;
    const auto a = c.add(200), b = c.add(100);
    c.start_all();
    c.run_for(300ms);
    // Each has heard the other (every heartbeat after the first exchange echoes right).
    CHECK(c.nodes[a].receiver->accepted() > 0);
    CHECK(c.nodes[b].receiver->accepted() > 0);
    // A first contact (echo 0) is no drop: a fresh cluster drops nothing.
    CHECK(c.nodes[b].receiver->drops().total() == 0);
    CHECK(c.nodes[a].receiver->drops().total() == 0);
    CHECK(c.nodes[a].receiver->awaiting_echo() + c.nodes[b].receiver->awaiting_echo() > 0);
    c.run_for(1s);
    CHECK(c.masters() == std::vector<std::size_t>{a});
    CHECK(c.state(b) == NodeState::kBackup);
    // A restarted node is confirmed again just as fast, with its new challenge.
    c.crash(b);
    c.start(b);
    const auto before = c.nodes[a].receiver->accepted();
    c.run_for(300ms);
    CHECK(c.nodes[a].receiver->accepted() > before);
    CHECK(c.nodes[b].receiver->accepted() > 0);
    CHECK(c.masters() == std::vector<std::size_t>{a});
}

TEST_CASE("a pause of the whole machine moves nothing when the nodes notice their own pause") {
    // Both nodes on one host at 10 ms, the host stopped for 200 ms (about seven dead intervals).
    for (const bool noticed : {true, false}) {
        SimCluster c;
        const auto a = c.add(200, true, 0ns, 10ms), b = c.add(100, true, 0ns, 10ms);
        c.start_all();
        c.run_for(1s);
        REQUIRE(c.masters() == std::vector<std::size_t>{a});
        const auto before = c.nodes[b].transitions.size();
        c.pause_machine(200ms, noticed);
        c.run_for(1s);
        CHECK(c.masters() == std::vector<std::size_t>{a});
        if (noticed)
            CHECK(c.nodes[b].transitions.size() == before);
        else  // the control: judged alone, the silence is a dead master (then it yields again)
            CHECK(c.nodes[b].transitions.size() > before);
    }
}

TEST_CASE("a master that really stops while its backup runs is still replaced") {
    SimCluster c;
    const auto a = c.add(200, true, 0ns, 10ms), b = c.add(100, true, 0ns, 10ms);
    c.start_all();
    c.run_for(1s);
    REQUIRE(c.masters() == std::vector<std::size_t>{a});
    c.crash(a);
    const auto took = c.time_until([&] { return c.state(b) == NodeState::kMaster; }, 1s);
    CHECK(took <= c.nodes[b].election->dead_interval_for(10ms) + 2 * kStep);
}
