#include "traffic_scheduler.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <random>

#include "fake_balancer.h"

using namespace balancer_traffic;
using namespace balancer_traffic::testing;

TEST_CASE("bytraffic splits bytes 3:7 by loadfactor under mixed response sizes") {
    FakeBalancer b({3, 7});
    b.run(20000, 20 * kSecond, mixed_size);
    CHECK(b.byte_share(0) == Approx(0.3).margin(0.01));
    CHECK(b.byte_share(1) == Approx(0.7).margin(0.01));
}

TEST_CASE("bytraffic splits bytes 1:1:8") {
    FakeBalancer b({1, 1, 8});
    b.run(20000, 20 * kSecond, mixed_size);
    CHECK(b.byte_share(0) == Approx(0.1).margin(0.01));
    CHECK(b.byte_share(1) == Approx(0.1).margin(0.01));
    CHECK(b.byte_share(2) == Approx(0.8).margin(0.01));
}

TEST_CASE("bytraffic with equal sizes interleaves requests by weight") {
    FakeBalancer b({1, 3});
    b.run(400, 4 * kSecond, [](int) { return 1000; });
    CHECK(b.served_requests[0] == 100);
    CHECK(b.served_requests[1] == 300);
}

TEST_CASE("a burst of concurrent picks is spread by weight before any byte is counted") {
    FakeBalancer b({3, 7});
    // Some history, so the mean bytes per request is known (stock bytraffic would now send
    // the whole burst to whichever member has the lowest count).
    b.run(2000, 2 * kSecond, [](int) { return 8000; });
    std::vector<int> picks(2, 0);
    for (int i = 0; i < 100; ++i) picks[b.pick()]++;  // 100 arrivals, nothing completes yet
    CHECK(picks[0] == Approx(30).margin(2));
    CHECK(picks[1] == Approx(70).margin(2));
    CHECK(b.state(0).inflight + b.state(1).inflight == 100);
    for (int m = 0; m < 2; ++m)
        for (int i = 0; i < picks[m]; ++i) b.complete(m);
    CHECK(b.state(0).inflight == 0);
    CHECK(b.state(1).inflight == 0);
    CHECK(b.state(0).scaled_pending == 0);
}

TEST_CASE("a burst on a cold balancer is spread by weight too") {
    FakeBalancer b({3, 7});
    std::vector<int> picks(2, 0);
    for (int i = 0; i < 50; ++i) picks[b.pick()]++;
    CHECK(picks[0] == Approx(15).margin(2));
    CHECK(picks[1] == Approx(35).margin(2));
}

// Share of bytes member `m` got in each `slice` of simulated time, for `duration`.
static std::vector<double> share_per_slice(FakeBalancer& b, std::size_t m, MonoNanos duration,
                                           MonoNanos slice, int requests_per_slice) {
    std::vector<double> shares;
    for (MonoNanos t = 0; t < duration; t += slice) {
        b.reset_counts();
        b.run(requests_per_slice, slice, mixed_size);
        shares.push_back(b.byte_share(m));
    }
    return shares;
}

static void recovered_member_is_not_flooded(SchedulerConfig config) {
    FakeBalancer b({3, 7}, config);
    b.run(3000, 3 * kSecond, mixed_size);
    b.inputs[1].usable = false;  // the loadfactor-7 member dies for 3 s
    b.run(3000, 3 * kSecond, mixed_size);
    CHECK(b.byte_share(1) < 0.75);  // it served only before it died
    b.inputs[1].usable = true;
    // From its first second back, it is near its 70% and never gets everything.
    auto shares = share_per_slice(b, 1, 4 * kSecond, 500 * kMillisecond, 500);
    for (double s : shares) CHECK(s == Approx(0.7).margin(0.05));
}

TEST_CASE("a recovered member gets its share back at once, not a flood (decaying window)") {
    recovered_member_is_not_flooded(SchedulerConfig{});
}

TEST_CASE("a recovered member is not flooded in cumulative mode either") {
    SchedulerConfig cumulative;
    cumulative.window = nanoseconds{0};
    recovered_member_is_not_flooded(cumulative);
}

TEST_CASE("a member added at runtime starts at its share, not with everything") {
    FakeBalancer b({3, 7});
    b.run(5000, 5 * kSecond, mixed_size);
    std::size_t added = b.add_member(5);  // balancer-manager adds a member: 3:7:5
    auto shares = share_per_slice(b, added, 3 * kSecond, 500 * kMillisecond, 600);
    for (double s : shares) CHECK(s == Approx(5.0 / 15).margin(0.05));
}

TEST_CASE("slow start ramps a recovered member from a tenth of its weight to all of it") {
    SchedulerConfig config;
    config.slow_start = std::chrono::seconds(10);
    FakeBalancer b({5, 5}, config);
    b.run(4000, 4 * kSecond, mixed_size);
    b.inputs[1].usable = false;
    b.run(1000, 1 * kSecond, mixed_size);
    b.inputs[1].usable = true;
    auto shares = share_per_slice(b, 1, 14 * kSecond, 1 * kSecond, 1000);
    // First second: close to the floor (0.1 weight: 0.5/5.5 ~ 9%), well below the 50% target.
    CHECK(shares.front() < 0.2);
    // Rising over the ramp...
    CHECK(shares[2] < shares[6]);
    CHECK(shares[6] < 0.5);
    // ...and at the target once it is over.
    CHECK(shares.back() == Approx(0.5).margin(0.05));
    for (double s : shares) CHECK(s < 0.56);  // never overshoots into a flood
}

TEST_CASE("slow start also covers a newly added member") {
    SchedulerConfig config;
    config.slow_start = std::chrono::seconds(6);
    FakeBalancer b({5}, config);
    b.run(3000, 3 * kSecond, mixed_size);
    std::size_t added = b.add_member(5);
    auto shares = share_per_slice(b, added, 8 * kSecond, 1 * kSecond, 1000);
    CHECK(shares.front() < 0.2);
    CHECK(shares.back() == Approx(0.5).margin(0.05));
}

TEST_CASE("old traffic decays: history from long ago does not decide today's picks") {
    SchedulerConfig config;
    config.window = std::chrono::seconds(5);
    FakeBalancer b({1, 1}, config);
    b.run(100, 1 * kSecond, mixed_size);
    // Member 0 served a huge download long ago.
    b.inputs[0].byte_counter += 500'000'000;
    b.complete(static_cast<std::size_t>(b.pick()));
    b.now += 60 * kSecond;  // 12 windows later
    b.reset_counts();
    b.run(2000, 2 * kSecond, mixed_size);
    CHECK(b.byte_share(0) == Approx(0.5).margin(0.03));
}

TEST_CASE("in cumulative mode old traffic keeps counting, as the stock module does") {
    SchedulerConfig config;
    config.window = nanoseconds{0};
    FakeBalancer b({1, 1}, config);
    b.run(100, 1 * kSecond, mixed_size);
    b.inputs[0].byte_counter += 500'000'000;
    b.complete(static_cast<std::size_t>(b.pick()));
    b.now += 60 * kSecond;
    b.reset_counts();
    b.run(2000, 2 * kSecond, mixed_size);
    CHECK(b.byte_share(0) < 0.01);
}

TEST_CASE("a runtime loadfactor change takes effect at once without a burst") {
    FakeBalancer b({3, 7});
    b.run(5000, 5 * kSecond, mixed_size);
    b.inputs[0].loadfactor = 700;  // balancer-manager: 3 -> 7
    auto shares = share_per_slice(b, 0, 3 * kSecond, 500 * kMillisecond, 500);
    for (double s : shares) CHECK(s == Approx(0.5).margin(0.05));
}

TEST_CASE("disabled, stopped and draining members get nothing; all down gives no member") {
    FakeBalancer b({3, 7});
    b.inputs[1].draining = true;
    for (int i = 0; i < 50; ++i) CHECK(b.request(1000) == 0);
    b.inputs[0].usable = false;
    CHECK(b.pick() == -1);
}

TEST_CASE("forward decay survives many windows of time (rebase keeps numbers finite)") {
    SchedulerConfig config;
    config.window = std::chrono::milliseconds(100);
    FakeBalancer b({3, 7}, config);
    for (int hour = 0; hour < 5; ++hour) {
        b.run(1000, 1 * kSecond, mixed_size);
        b.now += 3600 * kSecond;
    }
    b.reset_counts();
    b.run(2000, 1 * kSecond, mixed_size);
    CHECK(std::isfinite(b.state(0).scaled_bytes));
    CHECK(b.byte_share(1) == Approx(0.7).margin(0.02));
}

TEST_CASE("a counter reset (balancer-manager) is not read as negative traffic") {
    FakeBalancer b({1, 1});
    b.run(1000, 1 * kSecond, mixed_size);
    b.inputs[0].byte_counter = 0;
    b.reset_counts();
    b.run(1000, 1 * kSecond, mixed_size);
    CHECK(b.byte_share(0) == Approx(0.5).margin(0.03));
}

TEST_CASE("a new worker in a slot (different identity) is adopted afresh") {
    FakeBalancer b({1, 1});
    b.run(1000, 1 * kSecond, mixed_size);
    b.inputs[1].identity = 0xBEEF;
    b.inputs[1].byte_counter = 123'456'789;  // its counters are not ours to judge
    b.reset_counts();
    b.run(1000, 1 * kSecond, mixed_size);
    CHECK(b.byte_share(1) == Approx(0.5).margin(0.05));
}

TEST_CASE("status report: shares against targets") {
    FakeBalancer b({3, 7});
    b.run(5000, 5 * kSecond, mixed_size);
    std::vector<MemberReport> reports(2);
    report_members(b.config, b.view(), b.inputs.data(), 2, b.now, reports.data());
    CHECK(reports[0].target_share == Approx(0.3));
    CHECK(reports[1].target_share == Approx(0.7));
    CHECK(reports[0].byte_share == Approx(0.3).margin(0.02));
    CHECK(reports[0].eligible);
    CHECK(reports[0].picks_total + reports[1].picks_total == 5000);
    CHECK(reports[0].window_bytes > 0);
}
