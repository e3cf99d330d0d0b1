// A balancer for the scheduler tests: members as mod_proxy would report them, shared state in
// plain memory, a fake clock, and "backends" that count the bytes of each request they serve.
#pragma once

#include <cstring>
#include <functional>
#include <vector>

#include "latency_estimate.h"
#include "latency_scheduler.h"
#include "member_bookkeeping.h"
#include "member_state.h"
#include "request_scheduler.h"
#include "scheduler_config.h"
#include "status_report.h"
#include "traffic_scheduler.h"

namespace balancer_traffic::testing {

constexpr MonoNanos kMillisecond = 1'000'000;
constexpr MonoNanos kSecond = 1'000 * kMillisecond;

enum class Algorithm { kByTraffic, kByRequests, kByLatency };

class FakeBalancer {
  public:
    explicit FakeBalancer(std::vector<int> loadfactors, SchedulerConfig config = {},
                          Algorithm algorithm = Algorithm::kByTraffic, std::size_t capacity = 64)
        : config(config), algorithm(algorithm), states_(capacity) {
        std::memset(&header_, 0, sizeof header_);
        std::memset(states_.data(), 0, states_.size() * sizeof(MemberState));
        header_.capacity = static_cast<std::uint32_t>(capacity);
        header_.decay_origin = now;
        for (int lf : loadfactors) add_member(lf);
    }

    std::size_t add_member(int loadfactor, int lbset = 0, MemberRole role = MemberRole::kRegular) {
        MemberInput in;
        in.identity = next_identity_++;
        in.loadfactor = loadfactor * 100;  // as httpd stores it
        in.lbset = lbset;
        in.role = role;
        in.usable = true;
        inputs.push_back(in);
        served_requests.push_back(0);
        served_bytes.push_back(0);
        return inputs.size() - 1;
    }

    BalancerView view() { return BalancerView{&header_, states_.data()}; }
    MemberState& state(std::size_t i) { return states_[i]; }

    int pick() {
        switch (algorithm) {
            case Algorithm::kByTraffic:
                return TrafficScheduler::pick(config, view(), inputs.data(), inputs.size(), now);
            case Algorithm::kByRequests:
                return RequestScheduler::pick(config, view(), inputs.data(), inputs.size(), now);
            case Algorithm::kByLatency:
                return LatencyScheduler::pick(config, view(), inputs.data(), inputs.size(), now);
        }
        return -1;
    }

    // bylatency: the member's first byte came `latency` after the pick (the glue's output
    // filter), then the request completed.
    void answer(std::size_t member, MonoNanos latency, bool failed = false) {
        record_latency(config, states_[member], latency, now, failed);
        complete(member);
    }

    // The member moved `bytes` for a request (mod_proxy's counters grow).
    void transfer(std::size_t member, std::uint64_t bytes) {
        inputs[member].byte_counter += bytes;
        served_bytes[member] += bytes;
    }

    void complete(std::size_t member) {
        complete_request(config, view(), member, inputs[member], now);
    }

    // One whole request of `bytes`: picked, served, completed. Returns the member.
    int request(std::uint64_t bytes) {
        int m = pick();
        if (m < 0) return m;
        served_requests[m] += 1;
        transfer(m, bytes);
        complete(m);
        return m;
    }

    // `count` requests spread evenly over `duration`, sizes from `size_of(i)`.
    void run(int count, MonoNanos duration, const std::function<std::uint64_t(int)>& size_of) {
        for (int i = 0; i < count; ++i) {
            request(size_of(i));
            now += duration / count;
        }
    }

    void reset_counts() {
        std::fill(served_requests.begin(), served_requests.end(), 0);
        std::fill(served_bytes.begin(), served_bytes.end(), 0);
    }

    double byte_share(std::size_t member) const {
        std::uint64_t total = 0;
        for (auto b : served_bytes) total += b;
        return total ? static_cast<double>(served_bytes[member]) / total : 0;
    }

    double request_share(std::size_t member) const {
        std::uint64_t total = 0;
        for (auto r : served_requests) total += r;
        return total ? static_cast<double>(served_requests[member]) / total : 0;
    }

    SchedulerConfig config;
    Algorithm algorithm;
    MonoNanos now = 1000 * kSecond;
    std::vector<MemberInput> inputs;
    std::vector<std::uint64_t> served_requests;
    std::vector<std::uint64_t> served_bytes;

  private:
    BalancerHeader header_;
    std::vector<MemberState> states_;
    std::uint64_t next_identity_ = 0x1000;
};

// A mixed response-size profile: mostly small, some medium, a few large (bytes).
inline std::uint64_t mixed_size(int i) {
    static const std::uint64_t kSizes[] = {1024,  1024, 1024, 10240, 1024, 10240, 102400, 1024,
                                           10240, 1024, 1024, 51200, 1024, 10240, 1024,   4096};
    return kSizes[(static_cast<unsigned>(i) * 7u) % 16u];
}

}  // namespace balancer_traffic::testing
