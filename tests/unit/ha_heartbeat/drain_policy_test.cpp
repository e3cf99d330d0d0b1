#include "drain_policy.h"

#include <catch2/catch.hpp>

#include "sim_clock.h"

using namespace ha_heartbeat;
using namespace std::chrono_literals;
using testing::SimClock;

TEST_CASE("a drain moves on as soon as no connection is open") {
    SimClock clock;
    DrainPolicy d(2s, clock);
    CHECK_FALSE(d.active());
    CHECK_FALSE(d.poll(0));  // idle: nothing to move
    d.begin(MoveKind::kHandover);
    CHECK(d.phase() == DrainPolicy::Phase::kDraining);
    CHECK_FALSE(d.poll(32));
    clock.advance(30ms);
    CHECK_FALSE(d.poll(3));
    CHECK_FALSE(d.drained());
    clock.advance(10ms);
    auto why = d.poll(0);
    REQUIRE(why);
    CHECK(*why == "drained in 40 ms");
    CHECK(d.phase() == DrainPolicy::Phase::kMoving);
    CHECK(d.drained());      // nothing left open: the addresses may go without a linger
    CHECK_FALSE(d.poll(0));  // reported once
    d.finish();
    CHECK_FALSE(d.active());
    CHECK_FALSE(d.drained());
}

TEST_CASE("a drain gives up waiting at its timeout and says what was left") {
    SimClock clock;
    DrainPolicy d(2s, clock);
    d.begin(MoveKind::kStop);
    clock.advance(2s - 1ms);
    CHECK_FALSE(d.poll(1));
    clock.advance(1ms);
    auto why = d.poll(1);
    REQUIRE(why);
    CHECK(*why == "drain timeout after 2000 ms with 1 connection(s) still open");
    CHECK_FALSE(d.drained());  // a connection is still open: the release lingers for it
}

TEST_CASE("connections that cannot be counted make the drain last its whole timeout") {
    SimClock clock;
    DrainPolicy d(500ms, clock);
    d.begin(MoveKind::kHandover);
    clock.advance(499ms);
    CHECK_FALSE(d.poll(-1));
    clock.advance(1ms);
    auto why = d.poll(-1);
    REQUIRE(why);
    CHECK(why->find("could not be counted") != std::string::npos);
}

TEST_CASE("a stop during a handover's drain keeps the drain's start and becomes a stop") {
    SimClock clock;
    DrainPolicy d(1s, clock);
    d.begin(MoveKind::kHandover);
    clock.advance(600ms);
    d.begin(MoveKind::kStop);
    CHECK(d.kind() == MoveKind::kStop);
    clock.advance(400ms);
    CHECK(d.poll(5));  // the timeout counts from the first begin
}

TEST_CASE("a stop once the handover is moving leaves the handover to finish") {
    SimClock clock;
    DrainPolicy d(1s, clock);
    d.begin(MoveKind::kHandover);
    REQUIRE(d.poll(0));
    d.begin(MoveKind::kStop);
    CHECK(d.phase() == DrainPolicy::Phase::kMoving);
    CHECK(d.kind() == MoveKind::kHandover);
}
