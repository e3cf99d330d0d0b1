// bylatency against a simulated cluster: closed-loop clients, backends that answer after a
// per-member latency (with jitter), the fake clock. Shares are of requests picked.
#include "latency_scheduler.h"

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <queue>
#include <vector>

#include "fake_balancer.h"

using namespace balancer_traffic;
using namespace balancer_traffic::testing;

// Counts heap allocations made while `counting` is set (the pick path must make none). GCC
// flags malloc/free behind a replaced operator new as mismatched; they are matched here.
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
static std::atomic<bool> counting{false};
static std::atomic<long> allocations{0};
void* operator new(std::size_t n) {
    if (counting) ++allocations;
    if (void* p = std::malloc(n ? n : 1)) return p;
    throw std::bad_alloc();
}
void operator delete(void* p) noexcept {
    std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
    std::free(p);
}
// Every other unaligned form too, so that no allocation pairs ours with the runtime's (ASan
// reports Catch's nothrow allocations freed by our delete otherwise).
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
    if (counting) ++allocations;
    return std::malloc(n ? n : 1);
}
void* operator new[](std::size_t n) {
    return operator new(n);
}
void* operator new[](std::size_t n, const std::nothrow_t& tag) noexcept {
    return operator new(n, tag);
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}
void operator delete[](void* p) noexcept {
    std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
    std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
    std::free(p);
}

namespace {

struct Outstanding {
    MonoNanos done;
    std::size_t member;
    MonoNanos picked;
    bool operator>(const Outstanding& o) const { return done > o.done; }
};

// `clients` connections, each sending its next request as soon as the last one is answered.
class Simulation {
  public:
    Simulation(FakeBalancer& b, int clients, std::vector<MonoNanos> latency)
        : b(b), latency(std::move(latency)) {
        for (int c = 0; c < clients; ++c) issue();
    }

    void run_for(MonoNanos duration) {
        const MonoNanos end = b.now + duration;
        while (!out.empty() && out.top().done <= end) {
            Outstanding o = out.top();
            out.pop();
            b.now = o.done;
            b.answer(o.member, o.done - o.picked);
            issue();
        }
        b.now = end;
    }

    // Share of member `m` of the requests picked in each `slice` over `duration`.
    std::vector<double> shares(std::size_t m, MonoNanos duration, MonoNanos slice) {
        std::vector<double> out_shares;
        for (MonoNanos t = 0; t < duration; t += slice) {
            b.reset_counts();
            run_for(slice);
            out_shares.push_back(b.request_share(m));
        }
        return out_shares;
    }

    // Member `m` answers nothing until `duration` from now (a backend descheduled on a busy
    // machine): what it holds and what it is sent meanwhile is answered together at the end.
    void stall(std::size_t m, MonoNanos duration) {
        stalled = m;
        stalled_until = b.now + duration;
        std::vector<Outstanding> held;
        for (; !out.empty(); out.pop()) held.push_back(out.top());
        for (Outstanding o : held) {
            if (o.member == m) o.done = std::max(o.done, stalled_until);
            out.push(o);
        }
    }

    // One more connection (load grows: what a closed loop alone never does).
    void add_client() { issue(); }

    FakeBalancer& b;
    std::vector<MonoNanos> latency;  // per member, before jitter
    int late_every = 0;              // every n-th request answers late_factor times slower
    double late_factor = 1.0;

  private:
    void issue() {
        int m = b.pick();
        REQUIRE(m >= 0);
        b.served_requests[m] += 1;
        // +-20% jitter, deterministic.
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        const double jitter = 0.8 + 0.4 * static_cast<double>(seed >> 40) / (1ULL << 24);
        double delay_ns = static_cast<double>(latency[m]) * jitter;
        if (late_every > 0 && ++issued % late_every == 0) delay_ns *= late_factor;
        MonoNanos done = b.now + static_cast<MonoNanos>(delay_ns);
        if (static_cast<std::size_t>(m) == stalled) done = std::max(done, stalled_until);
        out.push({done, static_cast<std::size_t>(m), b.now});
    }

    std::priority_queue<Outstanding, std::vector<Outstanding>, std::greater<>> out;
    std::uint64_t seed = 42;
    long issued = 0;
    std::size_t stalled = SIZE_MAX;
    MonoNanos stalled_until = 0;
};

constexpr MonoNanos kFast = 10 * kMillisecond;
constexpr MonoNanos kSlow = 10 * kFast;

}  // namespace

// Two healthy seconds, then member 1 answers 10x slower for `slow_for`.
static void slow_down_member_1(Simulation& sim, MonoNanos slow_for) {
    sim.run_for(2 * kSecond);
    sim.latency[1] = kSlow;
    sim.run_for(slow_for);
}

// The smallest and largest of a member's slice shares.
static std::pair<double, double> share_range(const std::vector<double>& slices) {
    return {*std::min_element(slices.begin(), slices.end()),
            *std::max_element(slices.begin(), slices.end())};
}

TEST_CASE("bylatency: equal members share equally") {
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast});
    sim.run_for(1 * kSecond);
    for (std::size_t m = 0; m < 3; ++m)
        for (double s : sim.shares(m, 2 * kSecond, 500 * kMillisecond))
            CHECK(s == Approx(1.0 / 3).margin(0.05));
}

TEST_CASE("bylatency: equal members stay level through a busy machine's late answers") {
    // One answer in 40 takes 5x as long (a descheduled thread), on any member.
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast});
    sim.late_every = 40;
    sim.late_factor = 5.0;
    sim.run_for(1 * kSecond);
    int degraded_picks = 0;
    for (std::size_t m = 0; m < 3; ++m) {
        auto [low, high] = share_range(sim.shares(m, 3 * kSecond, 500 * kMillisecond));
        INFO("member " << m << " 0.5 s shares " << low << ".." << high);
        CHECK(low > 1.0 / 3 - 0.05);
        CHECK(high < 1.0 / 3 + 0.05);
        degraded_picks += (b.state(m).flags & kDegraded) ? 1 : 0;
    }
    CHECK(degraded_picks == 0);
}

TEST_CASE("bylatency: a member that stalls for 400 ms is set aside, then back one probe after") {
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast});
    sim.run_for(1 * kSecond);
    constexpr MonoNanos kStall = 400 * kMillisecond;
    sim.stall(0, kStall);
    // Once it has kept its requests waiting 3x the fastest's latency it is degraded, and gets
    // nothing more while it holds them.
    sim.run_for(5 * kFast);
    CHECK(b.state(0).flags & kDegraded);
    b.reset_counts();
    sim.run_for(kStall - 6 * kFast);
    CHECK(b.served_requests[0] == 0);
    // The answers it held come back together and move its estimate like one answer; the probe
    // that follows comes back fast, and it is in the pack again.
    sim.run_for(6 * kFast);
    CHECK_FALSE(b.state(0).flags & kDegraded);
    CHECK(b.state(0).latency_ns < 2 * kFast);
    CHECK(sim.shares(0, 500 * kMillisecond, 500 * kMillisecond).front() ==
          Approx(1.0 / 3).margin(0.05));
}

TEST_CASE("bylatency: a member that slows down is degraded before its first slow answer") {
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast});
    sim.run_for(2 * kSecond);
    sim.latency[1] = kSlow;
    b.reset_counts();
    // Its fast answers stop; once what it holds has waited 3x the others' latency it is
    // degraded, long before the first of its 100 ms answers.
    sim.run_for(kSlow / 2);
    CHECK(b.state(1).flags & kDegraded);
    CHECK(b.state(1).latency_ns < 1.5 * kFast);  // not from its answers: none came yet
    // What it was sent in the meantime is about its part of the 30 requests in flight; after
    // that, one probe at a time.
    const std::uint64_t held = b.served_requests[1];
    CHECK(held <= 15);
    sim.run_for(1 * kSecond);
    CHECK(b.served_requests[1] <= held + 3);
    CHECK(b.state(1).flags & kDegraded);
}

TEST_CASE("bylatency: how long a member keeps a request waiting counts at once") {
    FakeBalancer b({1}, {}, Algorithm::kByLatency);
    b.pick();
    b.answer(0, kFast);
    CHECK(waiting_for(b.state(0), b.now) == 0);
    b.now += 100 * kMillisecond;
    b.pick();  // idle until now: its wait starts with this pick
    b.now += 30 * kMillisecond;
    b.pick();
    b.now += 20 * kMillisecond;
    CHECK(waiting_for(b.state(0), b.now) == 50 * kMillisecond);
    CHECK(current_latency(b.state(0), b.now) == Approx(50.0 * kMillisecond));
    b.answer(0, 50 * kMillisecond);  // the first is answered: the second waits from now on
    CHECK(waiting_for(b.state(0), b.now) == 0);
    b.now += 5 * kMillisecond;
    CHECK(waiting_for(b.state(0), b.now) == 5 * kMillisecond);
    CHECK(current_latency(b.state(0), b.now) == Approx(b.state(0).latency_ns));
    // A request over without an answer (a client gone) waits no more.
    b.complete(0);
    CHECK(b.state(0).awaiting == 0);
    CHECK(waiting_for(b.state(0), b.now + kSecond) == 0);
}

TEST_CASE("bylatency: a degraded member gets ever sparser probes while they come back slow") {
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast});
    slow_down_member_1(sim, 1 * kSecond);
    constexpr MonoNanos kObserved = 4 * kSecond;
    b.reset_counts();
    MonoNanos oldest_answer = 0;
    for (MonoNanos t = 0; t < kObserved; t += 50 * kMillisecond) {
        sim.run_for(50 * kMillisecond);
        oldest_answer = std::max(oldest_answer, b.now - b.state(1).latency_at);
        CHECK(b.state(1).inflight <= 1);
    }
    // One probe at a time, each kProbeSpacing of its latencies after the previous answer...
    const MonoNanos interval = static_cast<MonoNanos>(kProbeSpacing * kSlow);
    CHECK(b.served_requests[1] <= static_cast<std::uint64_t>(kObserved / (interval + kSlow)) + 1);
    CHECK(b.served_requests[1] >= static_cast<std::uint64_t>(kObserved / (interval + 2 * kSlow)));
    CHECK(b.request_share(1) < 0.002);
    // ...and no longer than the longest gap, so that a recovery is seen and the estimate is
    // of now.
    CHECK(oldest_answer <= kLongestProbeGap * b.config.latency_decay.count() + 2 * kSlow);
    CHECK(b.state(1).latency_ns == Approx(static_cast<double>(kSlow)).epsilon(0.25));
}

TEST_CASE(
    "bylatency: a degraded member far slower than its peers is still probed every two "
    "decay times") {
    FakeBalancer b({1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 20, {kFast, kFast});
    sim.run_for(2 * kSecond);
    sim.latency[1] = 100 * kSlow;  // 1 s: kProbeSpacing of them would be 8 s
    sim.run_for(5 * kSecond);
    REQUIRE(b.state(1).flags & kDegraded);
    b.reset_counts();
    constexpr MonoNanos kObserved = 10 * kSecond;
    sim.run_for(kObserved);
    const MonoNanos gap = kLongestProbeGap * b.config.latency_decay.count();
    CHECK(b.served_requests[1] >= static_cast<std::uint64_t>(kObserved / (gap + 100 * kSlow)));
}

TEST_CASE("bylatency: when most of the pool slows down at once, the rest is not overrun") {
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast});
    sim.run_for(2 * kSecond);
    sim.latency[1] = sim.latency[2] = kSlow;
    sim.run_for(1 * kSecond);
    b.reset_counts();
    sim.run_for(2 * kSecond);
    // Setting two thirds of the weight aside would leave one member all 30 clients; instead
    // all compete by requests in flight: ten each, answered 10x slower by the two.
    CHECK(b.request_share(1) + b.request_share(2) == Approx(2.0 / 12).margin(0.05));
    CHECK(b.state(1).inflight + b.state(2).inflight > 10);
}

TEST_CASE("bylatency: the pack slowing for a while does not let a degraded member back in") {
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast});
    slow_down_member_1(sim, 2 * kSecond);
    REQUIRE(b.state(1).flags & kDegraded);
    // The others slow to 6x (a busy machine): the slow member is now within 2x of the fastest,
    // but its own estimate has not come down.
    sim.latency[0] = sim.latency[2] = 6 * kFast;
    b.reset_counts();
    sim.run_for(2 * kSecond);
    CHECK(b.state(1).flags & kDegraded);
    CHECK(b.request_share(1) < 0.03);
}

TEST_CASE("bylatency: a member a little slower stays in the pack with proportionally less") {
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast + kFast / 2});
    sim.run_for(1 * kSecond);
    b.reset_counts();
    sim.run_for(2 * kSecond);
    CHECK_FALSE(b.state(2).flags & kDegraded);
    // Equal requests in flight, answered 1.5x slower: (1/1.5) / (1 + 1 + 1/1.5) = 0.25.
    CHECK(b.request_share(2) == Approx(0.25).margin(0.03));
}

TEST_CASE("bylatency: a member near the degraded threshold does not flip in and out") {
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, static_cast<MonoNanos>(kDegradedAbove * kFast)});
    int flips = 0;
    bool was = false;
    for (int i = 0; i < 400; ++i) {
        sim.run_for(10 * kMillisecond);
        const bool is = b.state(2).flags & kDegraded;
        flips += is != was;
        was = is;
    }
    CHECK(flips <= 1);
}

TEST_CASE("bylatency: a recovered member is back at its share within 2 s, without overshoot") {
    FakeBalancer b({1, 1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast});
    slow_down_member_1(sim, 5 * kSecond);
    sim.latency[1] = kFast;
    constexpr MonoNanos kSlice = 250 * kMillisecond;
    auto shares = sim.shares(1, 5 * kSecond, kSlice);
    std::size_t back = shares.size();
    for (std::size_t i = shares.size(); i-- > 0;) {
        if (shares[i] < 1.0 / 3 - 0.05 || shares[i] > 1.0 / 3 + 0.05) break;
        back = i;
    }
    INFO("slice " << back << " of " << shares.size());
    CHECK(static_cast<MonoNanos>(back + 1) * kSlice <= 2 * kSecond);
    // It owes nothing for the time it was degraded: no slice above its share by more than the
    // requests it takes to fill its part of what is in flight.
    for (double s : shares) CHECK(s < 1.0 / 3 + 0.05);
}

TEST_CASE("bylatency: the decay directive sets how fast a recovered member is trusted again") {
    auto recovered_share = [](std::chrono::milliseconds decay) {
        SchedulerConfig config;
        config.latency_decay = decay;
        FakeBalancer b({1, 1, 1}, config, Algorithm::kByLatency);
        Simulation sim(b, 30, {kFast, kFast, kFast});
        slow_down_member_1(sim, 3 * kSecond);
        sim.latency[1] = kFast;
        return sim.shares(1, 1 * kSecond, 1 * kSecond).front();
    };
    CHECK(recovered_share(std::chrono::milliseconds(200)) >
          recovered_share(std::chrono::milliseconds(5000)) + 0.1);
}

TEST_CASE("bylatency: a member added with no samples is probed, not flooded") {
    FakeBalancer b({1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kSlow});
    sim.run_for(2 * kSecond);
    std::size_t added = b.add_member(1);  // a slow newcomer: its first answers take 100 ms
    auto shares = sim.shares(added, 2 * kSecond, 100 * kMillisecond);
    // Seeded at its peers' median, it gets its fair part of what is in flight at first, then
    // its answers show it is slow.
    CHECK(shares[0] < 0.4);
    for (std::size_t i = 2; i < shares.size(); ++i) CHECK(shares[i] < 0.1);
}

TEST_CASE("bylatency: a cold burst with no samples at all spreads by weight") {
    FakeBalancer b({1, 1, 2}, {}, Algorithm::kByLatency);
    std::vector<int> picks(3, 0);
    for (int i = 0; i < 40; ++i) picks[b.pick()]++;
    CHECK(picks[0] == Approx(10).margin(2));
    CHECK(picks[1] == Approx(10).margin(2));
    CHECK(picks[2] == Approx(20).margin(2));
}

TEST_CASE("bylatency: each answer weighs by the time since the member's previous one, capped") {
    FakeBalancer b({1}, {}, Algorithm::kByLatency);
    b.pick();
    b.answer(0, kFast);
    b.now += kMillisecond;
    b.pick();
    b.answer(0, 5 * kFast);  // a late answer 1 ms after the last: 1/500 of a decay time
    CHECK(b.state(0).latency_ns < 1.01 * kFast);
    b.now += b.config.latency_decay.count();
    b.pick();
    b.answer(0, 5 * kFast);  // a decay time of silence later: it counts for 1/32 decay time
    CHECK(b.state(0).latency_ns ==
          Approx(kFast + 4 * kFast * (1 - std::exp(-1.0 / 32))).epsilon(0.01));
}

TEST_CASE("bylatency: a fast failure never makes a member look faster") {
    FakeBalancer b({1}, {}, Algorithm::kByLatency);
    b.pick();
    b.answer(0, kSlow);
    b.now += kMillisecond;
    b.pick();
    b.answer(0, kMillisecond, /*failed=*/true);
    CHECK(b.state(0).latency_ns == Approx(static_cast<double>(kSlow)));
    b.now += b.config.latency_decay.count();
    b.pick();
    b.answer(0, 3 * kSlow, /*failed=*/true);  // a timeout raises it
    CHECK(b.state(0).latency_ns > 1.05 * kSlow);
}

TEST_CASE("bylatency: loadfactors weigh the expected wait") {
    FakeBalancer b({3, 7}, {}, Algorithm::kByLatency);
    Simulation sim(b, 40, {kFast, kFast});
    sim.run_for(1 * kSecond);
    b.reset_counts();
    sim.run_for(2 * kSecond);
    CHECK(b.request_share(1) == Approx(0.7).margin(0.05));
}

TEST_CASE("bylatency: lbsets, hot standby, draining and all-down follow bytraffic's rules") {
    FakeBalancer b({1, 1}, {}, Algorithm::kByLatency);
    std::size_t backup = b.add_member(1, /*lbset=*/1);
    std::size_t standby = b.add_member(1, 0, MemberRole::kStandby);
    for (int i = 0; i < 20; ++i) {
        int m = b.request(1000);
        CHECK((m == 0 || m == 1));
    }
    b.inputs[1].draining = true;
    for (int i = 0; i < 5; ++i) CHECK(b.request(1000) == 0);
    b.inputs[0].usable = false;
    for (int i = 0; i < 5; ++i) CHECK(b.request(1000) == static_cast<int>(standby));
    b.inputs[standby].usable = false;
    for (int i = 0; i < 5; ++i) CHECK(b.request(1000) == static_cast<int>(backup));
    b.inputs[backup].usable = false;
    CHECK(b.pick() == -1);
}

TEST_CASE("bylatency: a member back from an error is not flooded, and slow start ramps it") {
    SchedulerConfig config;
    config.slow_start = std::chrono::seconds(4);
    FakeBalancer b({1, 1, 1}, config, Algorithm::kByLatency);
    Simulation sim(b, 30, {kFast, kFast, kFast});
    sim.run_for(2 * kSecond);
    b.inputs[1].usable = false;
    // Its requests in flight fail over elsewhere in httpd; here they just complete.
    sim.run_for(10 * kSecond);
    b.inputs[1].usable = true;
    auto shares = sim.shares(1, 6 * kSecond, 500 * kMillisecond);
    CHECK(shares.front() < 0.15);  // a tenth of its weight at first
    CHECK(shares[2] < shares[7]);  // rising over the ramp
    CHECK(shares.back() == Approx(1.0 / 3).margin(0.06));
    for (double s : shares) CHECK(s < 0.42);
}

TEST_CASE("bylatency: after an hour of idle time a degraded member is still only probed") {
    FakeBalancer b({1, 1}, {}, Algorithm::kByLatency);
    {
        Simulation sim(b, 10, {kFast, kSlow});
        sim.run_for(2 * kSecond);
    }
    b.now += 3600 * kSecond;
    Simulation sim(b, 20, {kFast, kSlow});
    sim.run_for(1 * kSecond);
    b.reset_counts();
    sim.run_for(1 * kSecond);
    CHECK(b.state(1).flags & kDegraded);
    CHECK(b.request_share(0) > 0.99);
}

TEST_CASE("bylatency: status report shows each member's estimate") {
    FakeBalancer b({1, 1}, {}, Algorithm::kByLatency);
    Simulation sim(b, 10, {kFast, kSlow});
    sim.run_for(2 * kSecond);
    std::vector<MemberReport> reports(2);
    report_members(b.config, b.view(), b.inputs.data(), 2, b.now, reports.data());
    CHECK(reports[0].latency_ns == Approx(static_cast<double>(kFast)).epsilon(0.3));
    CHECK(reports[1].latency_ns > 5.0 * reports[0].latency_ns);
    CHECK(reports[0].latency_age_ns >= 0);
}

TEST_CASE("bylatency: the pick allocates nothing") {
    FakeBalancer b({1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, {}, Algorithm::kByLatency);
    b.inputs[3].usable = false;  // the tier rules run too
    allocations = 0;
    counting = true;
    for (int i = 0; i < 1000; ++i) {
        int m = b.pick();
        b.now += kMillisecond;
        b.answer(static_cast<std::size_t>(m), kFast);
    }
    counting = false;
    CHECK(allocations == 0);
}
