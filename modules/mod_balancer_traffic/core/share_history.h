// The recent past of a balancer for the status page's chart: every second, each member's
// all-time byte count and target share, for the last minute. Lives in shared memory next to the
// balancer's state; sampled by whichever pick comes first after the second is up.
#pragma once

#include <cstddef>
#include <cstdint>

#include "member_state.h"

namespace balancer_traffic {

constexpr std::size_t kHistorySamples = 61;  // one minute of one-second intervals
constexpr std::size_t kHistoryMembers = 8;   // the chart draws the first eight members
constexpr MonoNanos kHistoryInterval = 1'000'000'000;

struct ShareHistory {
    MonoNanos times[kHistorySamples];
    std::uint64_t bytes[kHistorySamples][kHistoryMembers];
    float target[kHistorySamples][kHistoryMembers];
    std::uint32_t next;   // slot the next sample goes to
    std::uint32_t count;  // samples held, up to kHistorySamples
};

// Takes a sample if the last one is a second old (one comparison otherwise: called on every
// pick). Targets are the eligible members' shares of the total effective weight.
void sample_history(ShareHistory& history, const MemberState* members, std::size_t count,
                    MonoNanos now);

// One point of a member's line: its share of the bytes moved in the interval ending at `time`.
struct SharePoint {
    MonoNanos time;
    double share;  // negative when nothing moved in the interval
    double target;
};

// Points for `member`, oldest first; returns how many were written to out[kHistorySamples - 1].
std::size_t history_points(const ShareHistory& history, std::size_t member, SharePoint* out);

}  // namespace balancer_traffic
