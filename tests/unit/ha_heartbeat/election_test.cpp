#include "election.h"

#include <catch2/catch.hpp>

#include "sim_clock.h"

using namespace ha_heartbeat;
using namespace std::chrono_literals;
using testing::SimClock;

namespace {
Heartbeat from(std::uint32_t node, int prio, NodeState state, std::uint64_t seq) {
    Heartbeat hb;
    hb.node_id = node;
    hb.priority = static_cast<std::uint8_t>(prio);
    hb.state = state;
    hb.interval_us = 100000;
    hb.boot_epoch = 1;
    hb.sequence = seq;
    return hb;
}
ElectionConfig config(std::uint32_t id, int prio) {
    ElectionConfig c;
    c.node_id = id;
    c.priority = prio;
    return c;
}
}  // namespace

TEST_CASE("a lone node listens for one dead interval, then claims") {
    SimClock clock;
    Election e(config(1, 100), clock);
    auto t = e.start();
    REQUIRE(t);
    CHECK(t->to == NodeState::kBackup);
    const auto dead = e.dead_interval_for(100ms);
    // 3 intervals plus the skew for priority 100: (256 - 100) / 256 of a quarter interval.
    CHECK(dead == 300ms + std::chrono::nanoseconds(100ms) * 156 / 1024);
    clock.advance(dead - 1ms);
    CHECK_FALSE(e.tick());
    clock.advance(1ms);
    auto claim = e.tick();
    REQUIRE(claim);
    CHECK(claim->to == NodeState::kMaster);
    CHECK(claim->reason == "no peer heard since startup");
}

TEST_CASE("a lower-priority backup's dead interval is longer than a higher one's") {
    SimClock clock;
    Election high(config(1, 200), clock), low(config(2, 50), clock);
    CHECK(high.dead_interval_for(100ms) < low.dead_interval_for(100ms));
}

TEST_CASE("a backup that hears a live master does not claim, and claims when it goes silent") {
    SimClock clock;
    Election e(config(1, 100), clock);
    e.start();
    for (int i = 1; i <= 20; ++i) {
        clock.advance(100ms);
        CHECK_FALSE(e.on_heartbeat(from(2, 150, NodeState::kMaster, i)));
    }
    clock.advance(e.dead_interval_for(100ms) - 5ms);
    CHECK_FALSE(e.tick());
    clock.advance(10ms);
    auto t = e.tick();
    REQUIRE(t);
    CHECK(t->to == NodeState::kMaster);
    CHECK(t->reason.find("silent") != std::string::npos);
}

TEST_CASE("a master yields to a higher-ranked master and ties are broken by node id") {
    SimClock clock;
    Election e(config(5, 100), clock);
    e.start();
    clock.advance(1s);
    REQUIRE(e.tick()->to == NodeState::kMaster);
    CHECK_FALSE(e.on_heartbeat(from(4, 100, NodeState::kMaster, 1)));  // same priority, lower id
    auto t = e.on_heartbeat(from(6, 100, NodeState::kMaster, 2));      // same priority, higher id
    REQUIRE(t);
    CHECK(t->to == NodeState::kBackup);
}

TEST_CASE("a resigning master (priority 0) is replaced at once") {
    SimClock clock;
    Election e(config(1, 100), clock);
    e.start();
    clock.advance(100ms);
    e.on_heartbeat(from(2, 200, NodeState::kMaster, 1));
    clock.advance(10ms);
    auto t = e.on_heartbeat(from(2, 0, NodeState::kMaster, 2));
    REQUIRE(t);
    CHECK(t->to == NodeState::kMaster);
    CHECK(t->reason == "node 2 resigned");
}

TEST_CASE("a resigning node advertises priority 0 and claims nothing") {
    SimClock clock;
    Election e(config(1, 100), clock);
    e.start();
    e.resign();
    CHECK(e.outgoing().priority == 0);
    clock.advance(10s);
    CHECK_FALSE(e.tick());
    CHECK(e.state() == NodeState::kBackup);
}

TEST_CASE("hard health failure means FAULT; a penalty lowers the advertised priority") {
    SimClock clock;
    Election e(config(1, 100), clock);
    e.start();
    clock.advance(1s);
    REQUIRE(e.tick()->to == NodeState::kMaster);
    auto pen = e.set_health(false, 30, "check failed");
    CHECK_FALSE(pen);
    CHECK(e.outgoing().priority == 70);
    auto fault = e.set_health(true, 0, "track script failed");
    REQUIRE(fault);
    CHECK(fault->to == NodeState::kFault);
    CHECK(e.outgoing().state == NodeState::kFault);
    clock.advance(10s);
    CHECK_FALSE(e.tick());
    auto back = e.set_health(false, 0, "track script ok");
    REQUIRE(back);
    CHECK(back->to == NodeState::kBackup);
}

TEST_CASE("a handover the chosen backup never takes up is called off after ten intervals") {
    SimClock clock;
    Election e(config(1, 200), clock);
    e.start();
    clock.advance(1s);
    REQUIRE(e.tick()->to == NodeState::kMaster);
    e.on_heartbeat(from(2, 100, NodeState::kBackup, 1));
    REQUIRE_FALSE(e.request_handover().has_value());
    CHECK(e.outgoing().handover_to == 2);
    CHECK(e.outgoing().flags == kFlagHandover);
    for (int i = 2; i <= 11; ++i) {
        clock.advance(100ms);
        e.on_heartbeat(from(2, 100, NodeState::kBackup, static_cast<std::uint64_t>(i)));
    }
    clock.advance(10ms);
    CHECK_FALSE(e.tick());
    CHECK(e.state() == NodeState::kMaster);
    CHECK(e.outgoing().handover_to == 0);
    CHECK(e.outgoing().flags == 0);
}

TEST_CASE("a handover needs a live backup") {
    SimClock clock;
    Election e(config(1, 200), clock);
    e.start();
    clock.advance(1s);
    REQUIRE(e.tick()->to == NodeState::kMaster);
    CHECK(*e.request_handover() == "no live backup to hand over to");
    e.on_heartbeat(from(2, 100, NodeState::kBackup, 1));
    clock.advance(2s);  // the backup went silent
    e.tick();
    CHECK(*e.request_handover() == "no live backup to hand over to");
}

TEST_CASE("preempt delay starts again when this node stops outranking the master in between") {
    SimClock clock;
    ElectionConfig c = config(1, 200);
    c.preempt_delay = 500ms;
    Election e(c, clock);
    e.start();
    std::uint64_t seq = 0;
    for (int i = 0; i < 4; ++i) {  // 400 ms of a lower master
        e.on_heartbeat(from(2, 100, NodeState::kMaster, ++seq));
        clock.advance(100ms);
    }
    CHECK(e.state() == NodeState::kBackup);
    e.set_health(false, 150, "a check failed");  // 50 < 100: no longer preempting
    e.on_heartbeat(from(2, 100, NodeState::kMaster, ++seq));
    clock.advance(100ms);
    e.set_health(false, 0, "check ok");
    for (int i = 0; i < 4; ++i) {  // the delay counts from here
        e.on_heartbeat(from(2, 100, NodeState::kMaster, ++seq));
        clock.advance(100ms);
    }
    CHECK(e.state() == NodeState::kBackup);
    clock.advance(100ms);
    auto t = e.on_heartbeat(from(2, 100, NodeState::kMaster, ++seq));
    REQUIRE(t);
    CHECK(t->to == NodeState::kMaster);
    CHECK(t->reason.rfind("preempting", 0) == 0);
}

TEST_CASE("a master with preempt on is told to yield to a better backup after the delay") {
    SimClock clock;
    ElectionConfig c = config(1, 100);
    c.preempt_delay = 300ms;
    Election e(c, clock);
    e.start();
    clock.advance(1s);
    REQUIRE(e.tick()->to == NodeState::kMaster);
    std::uint64_t seq = 0;
    e.on_heartbeat(from(2, 50, NodeState::kBackup, ++seq));  // a lower backup: nothing to do
    CHECK_FALSE(e.should_yield_to_backup());
    e.on_heartbeat(from(3, 200, NodeState::kBackup, ++seq));  // the better node is back
    CHECK_FALSE(e.should_yield_to_backup());
    clock.advance(200ms);
    e.on_heartbeat(from(3, 200, NodeState::kBackup, ++seq));
    CHECK_FALSE(e.should_yield_to_backup());
    clock.advance(100ms);
    e.on_heartbeat(from(3, 200, NodeState::kBackup, ++seq));
    CHECK(e.should_yield_to_backup());
    REQUIRE_FALSE(e.request_handover());
    CHECK(e.handover_target() == 3);          // the best backup is the returning node
    CHECK_FALSE(e.should_yield_to_backup());  // a handover is under way
    // The returning node claims: this master yields as after any handover.
    auto t = e.on_heartbeat(from(3, 200, NodeState::kMaster, ++seq));
    REQUIRE(t);
    CHECK(t->to == NodeState::kBackup);
}

TEST_CASE("a master with preempt off is never told to yield to a better backup") {
    SimClock clock;
    ElectionConfig c = config(1, 100);
    c.preempt = false;
    Election e(c, clock);
    e.start();
    clock.advance(1s);
    REQUIRE(e.tick()->to == NodeState::kMaster);
    e.on_heartbeat(from(3, 200, NodeState::kBackup, 1));
    clock.advance(1s);
    e.on_heartbeat(from(3, 200, NodeState::kBackup, 2));
    CHECK_FALSE(e.should_yield_to_backup());
}

TEST_CASE("a returning better node waits for the handover, and preempts if none comes") {
    SimClock clock;
    ElectionConfig c = config(1, 200);
    c.preempt_handover_wait = 500ms;
    std::uint64_t seq = 0;
    SECTION("the lower master hands over within the wait") {
        Election e(c, clock);
        e.start();
        for (int i = 0; i < 4; ++i) {
            CHECK_FALSE(e.on_heartbeat(from(2, 100, NodeState::kMaster, ++seq)));
            clock.advance(100ms);
        }
        Heartbeat hb = from(2, 100, NodeState::kMaster, ++seq);
        hb.flags |= kFlagHandover;
        hb.handover_to = 1;
        auto t = e.on_heartbeat(hb);
        REQUIRE(t);
        CHECK(t->to == NodeState::kMaster);
        CHECK(t->reason.rfind("handover from", 0) == 0);
    }
    SECTION("no handover: it preempts once the wait is over") {
        Election e(c, clock);
        e.start();
        for (int i = 0; i < 5; ++i) {
            CHECK_FALSE(e.on_heartbeat(from(2, 100, NodeState::kMaster, ++seq)));
            clock.advance(100ms);
        }
        auto t = e.on_heartbeat(from(2, 100, NodeState::kMaster, ++seq));
        REQUIRE(t);
        CHECK(t->to == NodeState::kMaster);
        CHECK(t->reason.find("did not hand over in time") != std::string::npos);
    }
}

TEST_CASE("a master by handover does not hand back to the better node that handed over") {
    SimClock clock;
    Election e(config(1, 100), clock);
    e.start();
    std::uint64_t seq = 0;
    e.on_heartbeat(from(2, 200, NodeState::kMaster, ++seq));
    Heartbeat hb = from(2, 200, NodeState::kMaster, ++seq);
    hb.flags |= kFlagHandover;
    hb.handover_to = 1;
    REQUIRE(e.on_heartbeat(hb)->to == NodeState::kMaster);
    for (int i = 0; i < 10; ++i) {
        clock.advance(100ms);
        e.on_heartbeat(from(2, 200, NodeState::kBackup, ++seq));
        CHECK_FALSE(e.should_yield_to_backup());
    }
    // It goes away and comes back: now it is a returning better node.
    clock.advance(2s);
    e.tick();
    e.on_heartbeat(from(2, 200, NodeState::kBackup, ++seq));
    CHECK(e.should_yield_to_backup());
}

TEST_CASE("a master that handed over because it ranked lower takes back when it ranks higher") {
    SimClock clock;
    Election e(config(1, 200), clock);
    e.start();
    clock.advance(1s);
    REQUIRE(e.tick()->to == NodeState::kMaster);
    std::uint64_t seq = 0;
    e.on_heartbeat(from(2, 100, NodeState::kBackup, ++seq));
    e.set_health(false, 150, "a check failed");  // 50 < 100
    REQUIRE(e.should_yield_to_backup());
    REQUIRE_FALSE(e.request_handover());
    REQUIRE(e.on_heartbeat(from(2, 100, NodeState::kMaster, ++seq))->to == NodeState::kBackup);
    // 200 > 100 again: it preempts (no handover wait configured here).
    auto t = e.set_health(false, 0, "check ok");
    REQUIRE(t);
    CHECK(t->to == NodeState::kMaster);
    CHECK(t->reason.rfind("preempting", 0) == 0);
}

TEST_CASE("a master by a lower node's handover hands back when that node ranks higher again") {
    SimClock clock;
    Election e(config(1, 100), clock);
    e.start();
    std::uint64_t seq = 0;
    Heartbeat hb = from(2, 50, NodeState::kMaster, ++seq);  // 200 with a penalty of 150
    hb.flags |= kFlagHandover;
    hb.handover_to = 1;
    REQUIRE(e.on_heartbeat(hb)->to == NodeState::kMaster);
    e.on_heartbeat(from(2, 50, NodeState::kBackup, ++seq));
    CHECK_FALSE(e.should_yield_to_backup());
    e.on_heartbeat(from(2, 200, NodeState::kBackup, ++seq));  // recovered
    CHECK(e.should_yield_to_backup());
}

TEST_CASE("a pause of this node itself does not count as the master's silence") {
    SimClock clock;
    Election e(config(1, 100), clock);
    e.start();
    for (int i = 1; i <= 5; ++i) {
        clock.advance(100ms);
        CHECK_FALSE(e.on_heartbeat(from(2, 150, NodeState::kMaster, i)));
    }
    // The machine stops for a second (both nodes on it, or a VM paused): on waking, the master
    // has sent nothing for a second, but neither node was running.
    clock.advance(1s);
    e.on_local_pause(1s - 10ms);  // woke 990 ms later than it asked
    CHECK_FALSE(e.tick());
    CHECK(e.state() == NodeState::kBackup);
    // Silence after the pause still counts: a master that stays silent is found dead one dead
    // interval after the pause, not later.
    clock.advance(e.dead_interval_for(100ms) - 20ms);
    CHECK_FALSE(e.tick());
    clock.advance(20ms);
    auto t = e.tick();
    REQUIRE(t);
    CHECK(t->to == NodeState::kMaster);
}

TEST_CASE("a local pause never moves a peer's last heartbeat into the future") {
    SimClock clock;
    Election e(config(1, 100), clock);
    e.start();
    clock.advance(100ms);
    e.on_heartbeat(from(2, 150, NodeState::kMaster, 1));
    clock.advance(50ms);
    e.on_local_pause(10s);
    REQUIRE(e.peers().size() == 1);
    CHECK(e.peers()[0].last_seen == clock.now());
    e.on_local_pause(-5ms);  // a wait that ended early is no pause
    CHECK(e.peers()[0].last_seen == clock.now());
}

TEST_CASE("the longest silence heard from a peer is kept, from its second heartbeat on") {
    SimClock clock;
    Election e(config(1, 100), clock);
    e.start();
    clock.advance(5s);
    e.on_heartbeat(from(2, 150, NodeState::kMaster, 1));
    REQUIRE(e.peers().size() == 1);
    CHECK(e.peers()[0].longest_silence == 0ms);  // the time before the first one is no silence
    clock.advance(100ms);
    e.on_heartbeat(from(2, 150, NodeState::kMaster, 2));
    clock.advance(230ms);
    e.on_heartbeat(from(2, 150, NodeState::kMaster, 3));
    clock.advance(90ms);
    e.on_heartbeat(from(2, 150, NodeState::kMaster, 4));
    CHECK(e.peers()[0].longest_silence == 230ms);
}
