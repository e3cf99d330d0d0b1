// The adapter that runs HATrack checks and HANotify commands (real /bin/sh, real processes).
#include "../../../modules/mod_ha_heartbeat/os/child_commands.h"

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <thread>

using namespace ha_heartbeat;
using namespace std::chrono_literals;

namespace {
constexpr auto kPollStep = 5ms;
constexpr auto kPollLimit = 3s;

// Polls until `done` or kPollLimit; returns whether it got there.
template <class F>
bool poll_until(HealthTracker& t, F done) {
    const MonotonicClock clock;
    const auto end = clock.now() + kPollLimit;
    while (clock.now() < end) {
        t.poll(clock.now());
        if (done()) return true;
        std::this_thread::sleep_for(kPollStep);
    }
    return false;
}

std::string temp_path(const char* name) {
    return "/tmp/ha-child-commands-" + std::to_string(getpid()) + "-" + name;
}
}  // namespace

TEST_CASE("a failing track command with a weight lowers the priority by it, without FAULT") {
    std::vector<std::string> logged;
    const LogFn log = [&](int, const std::string& m) { logged.push_back(m); };
    HealthTracker t({HealthTrack{HealthTrack::Kind::kCommand, "exit 3", 20}}, 50ms, log);
    REQUIRE(poll_until(t, [&] { return t.penalty() == 20; }));
    CHECK_FALSE(t.fault());
    CHECK(t.reason() == "'exit 3' failing");
    REQUIRE(logged.size() == 1);
    CHECK(logged[0] == "HATrack: 'exit 3' failing: exit status 3");
}

TEST_CASE("a track command that outlives the interval has failed, and is killed") {
    const LogFn log = [](int, const std::string&) {};
    HealthTracker t({HealthTrack{HealthTrack::Kind::kCommand, "sleep 29.25", 0}}, 50ms, log);
    const MonotonicClock clock;
    const auto start = clock.now();
    REQUIRE(poll_until(t, [&] { return t.fault(); }));
    CHECK(clock.now() - start < 1s);
    // The shell's child went with it (an odd duration, so no other process matches).
    CHECK(std::system("pgrep -f '^sleep 29.25$' >/dev/null") != 0);
}

TEST_CASE("a track file is healthy only while it holds 0") {
    const std::string path = temp_path("track");
    const LogFn log = [](int, const std::string&) {};
    HealthTracker t({HealthTrack{HealthTrack::Kind::kFile, path, 0}}, 10ms, log);
    REQUIRE(poll_until(t, [&] { return t.fault(); }));  // missing
    std::ofstream(path) << "0\n";
    REQUIRE(poll_until(t, [&] { return !t.fault(); }));
    std::ofstream(path) << "1\n";
    REQUIRE(poll_until(t, [&] { return t.fault(); }));
    unlink(path.c_str());
}

TEST_CASE("the notify command gets the state, node, priority and reason as arguments") {
    const std::string out = temp_path("notify");
    const LogFn log = [](int, const std::string&) {};
    {
        Notifier n("printf '%s|' >" + out, log);
        n.notify(NodeState::kMaster, "node-a", 200, "no peer heard since startup");
        const MonotonicClock clock;
        const auto end = clock.now() + kPollLimit;
        std::string text;
        while (clock.now() < end) {
            n.reap(clock.now());
            std::ifstream in(out);
            std::stringstream ss;
            ss << in.rdbuf();
            text = ss.str();
            if (!text.empty()) break;
            std::this_thread::sleep_for(kPollStep);
        }
        CHECK(text == "MASTER|node-a|200|no peer heard since startup|");
    }
    unlink(out.c_str());
}
