#include "episode_tracker.h"

#include <catch2/catch.hpp>

#include "sim_clock.h"

using namespace ha_heartbeat;
using namespace std::chrono_literals;
using testing::SimClock;

TEST_CASE("events closer than the quiet period make one episode") {
    SimClock clock;
    EpisodeTracker t(1s);
    CHECK(t.on_event(clock.now()));
    for (int i = 0; i < 2186; ++i) {  // one node at 10 ms for about 22 s
        clock.advance(10ms);
        CHECK_FALSE(t.on_event(clock.now()));
        CHECK_FALSE(t.poll(clock.now()));
    }
    CHECK(t.episodes() == 1);
    clock.advance(1s - 1ms);
    CHECK_FALSE(t.poll(clock.now()));
    clock.advance(1ms);
    auto s = t.poll(clock.now());
    REQUIRE(s);
    CHECK(s->events == 2187);
    CHECK(s->duration == 21860ms);
    CHECK_FALSE(t.poll(clock.now()));  // reported once
    CHECK_FALSE(t.active());
}

TEST_CASE("an event after the quiet period begins a new episode") {
    SimClock clock;
    EpisodeTracker t(500ms);
    CHECK(t.on_event(clock.now()));
    clock.advance(500ms);
    CHECK(t.on_event(clock.now()));  // ended even without a poll in between
    CHECK(t.episodes() == 2);
    CHECK(t.events() == 2);
    clock.advance(500ms);
    auto s = t.poll(clock.now());
    REQUIRE(s);
    CHECK(s->events == 1);
    CHECK(s->duration == 0ms);
}
