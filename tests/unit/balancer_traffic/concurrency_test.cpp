// Picks from several processes and threads at once against one state in shared memory, as
// httpd's children do: the cross-process lock must keep every count exact.
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "member_bookkeeping.h"
#include "shared_mutex.h"
#include "state_store.h"
#include "traffic_scheduler.h"

using namespace balancer_traffic;

namespace {

constexpr int kProcesses = 3;
constexpr int kThreadsPerProcess = 4;
constexpr int kPicksPerThread = 3000;
constexpr std::size_t kMembers = 3;

// Each member's byte counter lives in shared memory too, as mod_proxy's do.
struct SharedCounters {
    std::uint64_t bytes[kMembers];
};

void pick_many(Region* region, SharedCounters* counters, int seed) {
    SchedulerConfig config;
    std::vector<MemberInput> inputs(kMembers);
    for (int n = 0; n < kPicksPerThread; ++n) {
        const MonoNanos now = 1'000'000'000LL + n * 1000LL;
        suite::SharedLock lock(region->mutex);
        for (std::size_t i = 0; i < kMembers; ++i) {
            inputs[i].identity = i + 1;
            inputs[i].loadfactor = 100 * static_cast<int>(i + 1);
            inputs[i].usable = true;
            inputs[i].byte_counter = counters->bytes[i];
        }
        int m = TrafficScheduler::pick(config, region->view(), inputs.data(), kMembers, now);
        counters->bytes[m] += 1000 + static_cast<std::uint64_t>((seed + n) % 5) * 100;
        inputs[m].byte_counter = counters->bytes[m];
        complete_request(config, region->view(), m, inputs[m], now);
    }
}

}  // namespace

TEST_CASE("picks from many processes and threads keep the shared state exact") {
    const std::size_t size = 1 << 20;
    void* memory = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    REQUIRE(memory != MAP_FAILED);
    auto* counters = static_cast<SharedCounters*>(memory);
    *counters = SharedCounters{};
    StateStore* store = StateStore::format(static_cast<char*>(memory) + 4096, size - 4096);
    REQUIRE(store);
    Region* region = store->region_for("balancer://concurrent", kMembers, 1);
    REQUIRE(region);

    std::vector<pid_t> children;
    for (int p = 0; p < kProcesses; ++p) {
        pid_t pid = fork();
        REQUIRE(pid >= 0);
        if (pid == 0) {
            std::vector<std::thread> threads;
            for (int t = 0; t < kThreadsPerProcess; ++t)
                threads.emplace_back(pick_many, region, counters, p * 10 + t);
            for (auto& t : threads) t.join();
            _exit(0);
        }
        children.push_back(pid);
    }
    for (pid_t pid : children) {
        int status = 0;
        REQUIRE(waitpid(pid, &status, 0) == pid);
        REQUIRE(WIFEXITED(status));
        CHECK(WEXITSTATUS(status) == 0);
    }

    const std::uint64_t total_picks =
        std::uint64_t{kProcesses} * kThreadsPerProcess * kPicksPerThread;
    CHECK(region->header.picks_total == total_picks);
    std::uint64_t picks = 0, bytes = 0, counted = 0;
    for (std::size_t i = 0; i < kMembers; ++i) {
        const MemberState& st = region->members()[i];
        picks += st.picks_total;
        bytes += st.bytes_total;
        counted += counters->bytes[i];
        CHECK(st.inflight == 0);
    }
    CHECK(picks == total_picks);
    CHECK(bytes == counted);  // no lost update: every byte was absorbed exactly once
    // Weights 1:2:3 still hold with everyone picking at once.
    CHECK(static_cast<double>(counters->bytes[2]) / counted == Approx(0.5).margin(0.01));
    munmap(memory, size);
}
