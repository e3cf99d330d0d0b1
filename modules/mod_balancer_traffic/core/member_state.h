// What the schedulers know about each balancer member, split in two:
// MemberInput is read from httpd at every pick (status, loadfactor, byte counters), and
// MemberState is ours, kept in shared memory so every child process sees and updates the same
// numbers and they survive a graceful restart. Both are plain data: the shared-memory layout
// must not contain pointers or anything with a constructor.
#pragma once

#include <cstdint>
#include <type_traits>

#include "monotonic_clock.h"

namespace balancer_traffic {

using suite::MonoNanos;  // every time in the shared state is on CLOCK_MONOTONIC

enum class MemberRole : std::uint8_t { kRegular, kSpare, kStandby };

struct MemberInput {
    std::uint64_t identity = 0;      // hash of the member's name; a new identity is a new member
    std::uint64_t byte_counter = 0;  // all-time bytes both ways, as mod_proxy counts them
    std::int32_t loadfactor = 1;     // 1..100, may change at runtime (balancer-manager)
    std::int32_t lbset = 0;
    MemberRole role = MemberRole::kRegular;
    bool usable = false;    // not disabled, stopped, in error or failing health checks
    bool draining = false;  // status +N: finish what it has, take nothing new
};

enum MemberFlags : std::uint8_t {
    kKnown = 1 << 0,         // slot initialised for `identity`
    kWasUsable = 1 << 1,     // usable at the previous pick
    kWasCandidate = 1 << 2,  // eligible at the previous pick (in the chosen tier)
    kCandidate = 1 << 3,     // eligible at this pick
    kDegraded = 1 << 4,      // bylatency: far slower than the fastest member, only probed
};

// Amounts named scaled_* are forward-decayed (see forward_decay.h): they are multiplied by
// exp((t - origin) / window) when added, so comparing two members needs no decay step at all.
// The fields every pick reads come first, next to each other (fewer cache lines per member).
struct MemberState {
    std::uint64_t identity;
    std::uint64_t last_byte_counter;
    double scaled_bytes;    // bytes both ways, decayed
    double scaled_pending;  // bytes charged to requests still in flight, decayed
    double weight_seen;     // effective weight at the previous pick
    std::int32_t loadfactor_seen;
    std::uint8_t flags;
    // Touched by the chosen member only, or by the status page.
    double scaled_requests;      // picks, decayed
    std::int64_t smooth_weight;  // byrequests: the "current weight" of smooth round robin
    MonoNanos usable_since;      // start of the slow-start ramp
    std::uint64_t picks_total;
    std::uint64_t bytes_total;
    std::uint32_t inflight;
    // bylatency (latency_estimate.h): the moving average of time to first byte as of the last
    // sample, and when that sample came; when the member, if degraded, was last probed, and the
    // highest estimate it had while degraded (latency_scheduler.cc).
    double latency_ns;
    MonoNanos latency_at;
    MonoNanos probe_at;
    double degraded_peak_ns;
    // bylatency: requests picked whose first byte has not come yet, and since when there has
    // been at least one (latency_estimate.h: how long the member has kept them waiting); its
    // last sample; the time to first byte of the last request picked since it was degraded
    // (a probe), 0 if none was answered yet.
    std::uint32_t awaiting;
    MonoNanos awaiting_since;
    double last_sample_ns;
    double probe_sample_ns;
};

struct BalancerHeader {
    MonoNanos decay_origin;
    MonoNanos scale_time;  // decay scale cache (forward_decay.h)
    double scale_value;
    std::uint32_t scale_valid;
    std::uint64_t picks_total;
    std::uint32_t capacity;
    std::uint32_t member_count;  // highest slot in use + 1
};

static_assert(std::is_trivially_copyable_v<MemberState>, "lives in shared memory");
static_assert(std::is_trivially_copyable_v<BalancerHeader>, "lives in shared memory");

// A balancer's state as the schedulers see it: a header and `capacity` member slots, slot i
// belonging to the balancer's i-th worker.
struct BalancerView {
    BalancerHeader* header;
    MemberState* members;
};

}  // namespace balancer_traffic
