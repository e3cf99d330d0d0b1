#include "request_scheduler.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "fake_balancer.h"

using namespace balancer_traffic;
using namespace balancer_traffic::testing;

// Largest |count_i - n * w_i / W| over every prefix of `picks` picks.
static double max_prefix_deviation(FakeBalancer& b, int picks) {
    double total_weight = 0;
    for (auto& in : b.inputs) total_weight += in.loadfactor;
    std::vector<double> counts(b.inputs.size(), 0);
    double worst = 0;
    for (int n = 1; n <= picks; ++n) {
        int m = b.request(1000);
        REQUIRE(m >= 0);
        counts[m] += 1;
        for (std::size_t i = 0; i < counts.size(); ++i)
            worst =
                std::max(worst, std::fabs(counts[i] - n * b.inputs[i].loadfactor / total_weight));
    }
    return worst;
}

TEST_CASE("byrequests interleaves smoothly: never a whole request from the exact share (3:7)") {
    FakeBalancer b({3, 7}, {}, Algorithm::kByRequests);
    CHECK(max_prefix_deviation(b, 1000) < 1.0);
    CHECK(b.served_requests[0] == 300);
}

TEST_CASE("byrequests smoothness holds for 1:1:8 and for random weights") {
    {
        FakeBalancer b({1, 1, 8}, {}, Algorithm::kByRequests);
        CHECK(max_prefix_deviation(b, 1000) < 1.0);
    }
    std::mt19937 rng(42);
    for (int trial = 0; trial < 200; ++trial) {
        std::vector<int> weights(2 + rng() % 7);
        for (int& w : weights) w = 1 + static_cast<int>(rng() % 100);
        FakeBalancer b(weights, {}, Algorithm::kByRequests);
        INFO("trial " << trial);
        CHECK(max_prefix_deviation(b, 500) < 1.0);
    }
}

TEST_CASE("byrequests: a member back from an outage gets no burst for the turns it missed") {
    FakeBalancer b({3, 7}, {}, Algorithm::kByRequests);
    for (int i = 0; i < 100; ++i) b.request(1000);
    b.inputs[1].usable = false;
    for (int i = 0; i < 100; ++i) CHECK(b.request(1000) == 0);
    b.inputs[1].usable = true;
    b.reset_counts();
    CHECK(max_prefix_deviation(b, 200) < 1.0);  // measured from its return
}

TEST_CASE("byrequests: lbsets, hot standby and all-down") {
    FakeBalancer b({1, 1}, {}, Algorithm::kByRequests);
    std::size_t backup = b.add_member(1, /*lbset=*/1);
    std::size_t standby = b.add_member(1, 0, MemberRole::kStandby);
    for (int i = 0; i < 20; ++i) {
        int m = b.request(1000);
        CHECK((m == 0 || m == 1));
    }
    b.inputs[0].usable = b.inputs[1].usable = false;
    // Set 0 still has its standby: it serves before set 1 is touched.
    for (int i = 0; i < 5; ++i) CHECK(b.request(1000) == static_cast<int>(standby));
    b.inputs[standby].usable = false;
    for (int i = 0; i < 5; ++i) CHECK(b.request(1000) == static_cast<int>(backup));
    b.inputs[backup].usable = false;
    CHECK(b.pick() == -1);
}

TEST_CASE("byrequests: slow start ramps the weight of a returning member") {
    SchedulerConfig config;
    config.slow_start = std::chrono::seconds(10);
    FakeBalancer b({1, 1}, config, Algorithm::kByRequests);
    b.run(1000, 1 * kSecond, mixed_size);
    b.inputs[1].usable = false;
    b.run(100, 1 * kSecond, mixed_size);
    b.inputs[1].usable = true;
    b.reset_counts();
    b.run(1000, 1 * kSecond, mixed_size);
    CHECK(b.request_share(1) < 0.2);
    b.now += 10 * kSecond;
    b.reset_counts();
    b.run(1000, 1 * kSecond, mixed_size);
    CHECK(b.request_share(1) == Approx(0.5).margin(0.01));
}

TEST_CASE("byrequests: a sticky-session request counts as the member's turn") {
    FakeBalancer b({1, 1}, {}, Algorithm::kByRequests);
    b.request(1000);
    b.request(1000);
    // A sticky session sends three requests to member 0 without the finder.
    for (int i = 0; i < 3; ++i)
        RequestScheduler::charge(b.config, b.view(), b.inputs.data(), 0, 2, b.now);
    // Round robin evens that out: member 1 gets the next requests.
    CHECK(b.request(1000) == 1);
    CHECK(b.request(1000) == 1);
}
