#include "loop_rules.h"

#include <catch2/catch.hpp>

using namespace ha_heartbeat;
using namespace std::chrono_literals;

TEST_CASE("the linger after a move is an interval, and at least 50 ms") {
    CHECK(release_linger(10ms) == 50ms);
    CHECK(release_linger(100ms) == 100ms);
    CHECK(release_linger(1s) == 1s);
}

TEST_CASE("a planned stop is bounded by the drain, five intervals of resign wait and the linger") {
    CHECK(resign_wait(100ms) == 500ms);
    CHECK(planned_stop_bound(2s, 100ms) == 2s + 500ms + 100ms);
    CHECK(planned_stop_bound(0ms, 10ms) == 50ms + 50ms);
}

TEST_CASE("an episode is over after ten quiet intervals, never sooner than a second") {
    CHECK(episode_quiet(10ms) == 1s);
    CHECK(episode_quiet(100ms) == 1s);
    CHECK(episode_quiet(500ms) == 5s);
}

TEST_CASE("health: checks, link and balancers, with the link first in the reason") {
    HealthInputs in;
    in.checks_reason = "all checks pass";
    HealthVerdict v = health_verdict(in);
    CHECK_FALSE(v.fault);
    CHECK(v.penalty == 0);
    CHECK(v.reason == "all checks pass");

    in.checks_penalty = 20;
    in.balancer_problem = "balancer://web has no usable member";
    in.balancer_weight = 50;
    v = health_verdict(in);
    CHECK_FALSE(v.fault);  // a weighted balancer problem lowers the priority only
    CHECK(v.penalty == 70);
    CHECK(v.reason == "balancer://web has no usable member; all checks pass");

    in.balancer_weight = 0;
    CHECK(health_verdict(in).fault);  // weight 0: the balancer problem is a fault

    in.balancer_weight = 50;
    in.link_problem = "interface eth0 is down or has no carrier";
    v = health_verdict(in);
    CHECK(v.fault);
    CHECK(v.reason ==
          "interface eth0 is down or has no carrier; balancer://web has no usable member; all "
          "checks pass");

    HealthInputs checks_only;
    checks_only.checks_fault = true;
    CHECK(health_verdict(checks_only).fault);
}

namespace {
Heartbeat master(std::uint32_t id, std::uint8_t priority) {
    Heartbeat hb;
    hb.node_id = id;
    hb.priority = priority;
    hb.state = NodeState::kMaster;
    return hb;
}
}  // namespace

TEST_CASE("another master is a split brain unless it steps down for this node") {
    const auto d = on_master_heard(master(2, 100), false, false, 1, 1s, 10ms);
    CHECK(d.split_brain);
    CHECK(d.announce);

    CHECK_FALSE(on_master_heard(master(2, kResignPriority), false, false, 1, 1s, 10ms).split_brain);

    Heartbeat handing = master(2, 100);
    handing.flags = kFlagHandover;
    handing.handover_to = 1;
    CHECK_FALSE(on_master_heard(handing, false, false, 1, 1s, 10ms).split_brain);
    handing.handover_to = 3;  // handing over to someone else: still a second master here
    CHECK(on_master_heard(handing, false, false, 1, 1s, 10ms).split_brain);
}

TEST_CASE("a returning peer is announced to, not counted as a split brain") {
    const auto d = on_master_heard(master(2, 100), true, false, 1, 1s, 10ms);
    CHECK_FALSE(d.split_brain);
    CHECK(d.announce);
}

TEST_CASE("announcements are repeated at most once an interval; a resigning node makes none") {
    CHECK_FALSE(on_master_heard(master(2, 100), false, false, 1, 9ms, 10ms).announce);
    CHECK(on_master_heard(master(2, 100), false, false, 1, 10ms, 10ms).announce);
    const auto resigning = on_master_heard(master(2, 100), false, true, 1, 1s, 10ms);
    CHECK_FALSE(resigning.announce);
    CHECK_FALSE(resigning.split_brain);
}
