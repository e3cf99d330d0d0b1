// Nanoseconds per pick of the mod_balancer_traffic core for 2, 16 and 256 members: the work done
// on every proxied request, with and without the cross-process lock the adapter takes around it.
// Prints one line per (method, members): "pick_ns <method> <members> <ns-lock-free> <ns-locked>".
// bylatency's figure includes recording the request's latency sample, as the glue does per request.
// Time is the thread's CPU time, not the wall clock: on a shared machine the wall clock also
// counts the stretches when another process had the core, which says nothing about the pick.
#include <algorithm>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <vector>

#include "latency_estimate.h"
#include "latency_scheduler.h"
#include "member_bookkeeping.h"
#include "request_scheduler.h"
#include "shared_mutex.h"
#include "traffic_scheduler.h"

using namespace balancer_traffic;

namespace {

// About 20 ms of picks per run whatever the member count.
constexpr long kMemberPicksPerRun = 8'000'000;
constexpr int kRuns = 5;

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
}

double thread_cpu_ns() {
    timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) * 1e9 + static_cast<double>(ts.tv_nsec);
}

enum class Method { kByTraffic, kByRequests, kByLatency };

int pick(Method method, const SchedulerConfig& config, BalancerView view, const MemberInput* inputs,
         std::size_t members, std::int64_t now) {
    switch (method) {
        case Method::kByTraffic:
            return TrafficScheduler::pick(config, view, inputs, members, now);
        case Method::kByRequests:
            return RequestScheduler::pick(config, view, inputs, members, now);
        case Method::kByLatency:
            return LatencyScheduler::pick(config, view, inputs, members, now);
    }
    return -1;
}

template <bool kLocked>
double ns_per_pick(Method method, std::size_t members) {
    SchedulerConfig config;
    BalancerHeader header{};
    std::vector<MemberState> states(members);
    std::memset(states.data(), 0, members * sizeof(MemberState));
    std::vector<MemberInput> inputs(members);
    for (std::size_t i = 0; i < members; ++i) {
        inputs[i].identity = i + 1;
        inputs[i].loadfactor = 100 * static_cast<int>(1 + i % 10);
        inputs[i].usable = true;
    }
    BalancerView view{&header, states.data()};
    suite::SharedMutex mutex;
    mutex.init();
    std::vector<double> runs;
    std::int64_t now = 1'000'000'000;
    const int picks_per_run = static_cast<int>(kMemberPicksPerRun / static_cast<long>(members));
    for (int run = 0; run < kRuns; ++run) {
        const double start = thread_cpu_ns();
        for (int i = 0; i < picks_per_run; ++i) {
            now += 1000;  // 1 us between requests
            if (kLocked) mutex.lock();
            int m = pick(method, config, view, inputs.data(), members, now);
            inputs[m].byte_counter += 1024 + (i % 7) * 4096;
            if (method == Method::kByLatency)  // 1-2 ms to first byte
                record_latency(config, states[m], 1'000'000 + (i % 11) * 100'000, now, false);
            complete_request(config, view, m, inputs[m], now);
            if (kLocked) mutex.unlock();
        }
        runs.push_back((thread_cpu_ns() - start) / picks_per_run);
    }
    return median(runs);
}

}  // namespace

int main() {
    const struct {
        Method method;
        const char* name;
    } methods[] = {{Method::kByTraffic, "bytraffic"},
                   {Method::kByRequests, "byrequests"},
                   {Method::kByLatency, "bylatency"}};
    for (const auto& m : methods)
        for (std::size_t members : {2, 16, 256})
            std::printf("pick_ns %s %zu %.1f %.1f\n", m.name, members,
                        ns_per_pick<false>(m.method, members),
                        ns_per_pick<true>(m.method, members));
    return 0;
}
