#include "share_history.h"

#include <algorithm>

namespace balancer_traffic {

void sample_history(ShareHistory& history, const MemberState* members, std::size_t count,
                    MonoNanos now) {
    if (history.count > 0) {
        const std::size_t last = (history.next + kHistorySamples - 1) % kHistorySamples;
        if (now - history.times[last] < kHistoryInterval) return;
    }
    double weight = 0;
    for (std::size_t m = 0; m < count; ++m)
        if (members[m].flags & kWasCandidate) weight += members[m].weight_seen;
    double targets[kHistoryMembers] = {};
    for (std::size_t m = 0; m < std::min(count, kHistoryMembers); ++m)
        if ((members[m].flags & kWasCandidate) && weight > 0)
            targets[m] = members[m].weight_seen / weight;
    const std::size_t slot = history.next;
    history.times[slot] = now;
    for (std::size_t m = 0; m < kHistoryMembers; ++m) {
        history.bytes[slot][m] = m < count ? members[m].bytes_total : 0;
        history.target[slot][m] = m < count ? static_cast<float>(targets[m]) : 0.0f;
    }
    history.next = static_cast<std::uint32_t>((slot + 1) % kHistorySamples);
    history.count = std::min<std::uint32_t>(history.count + 1, kHistorySamples);
}

std::size_t history_points(const ShareHistory& history, std::size_t member, SharePoint* out) {
    if (member >= kHistoryMembers || history.count < 2) return 0;
    const std::size_t oldest = (history.next + kHistorySamples - history.count) % kHistorySamples;
    std::size_t written = 0;
    for (std::size_t i = 1; i < history.count; ++i) {
        const std::size_t prev = (oldest + i - 1) % kHistorySamples;
        const std::size_t cur = (oldest + i) % kHistorySamples;
        std::uint64_t all = 0, mine = 0;
        for (std::size_t m = 0; m < kHistoryMembers; ++m) {
            // A counter that went backwards was reset: count the interval as empty for it.
            const std::uint64_t delta = history.bytes[cur][m] >= history.bytes[prev][m]
                                            ? history.bytes[cur][m] - history.bytes[prev][m]
                                            : 0;
            all += delta;
            if (m == member) mine = delta;
        }
        out[written++] = SharePoint{
            history.times[cur], all ? static_cast<double>(mine) / static_cast<double>(all) : -1.0,
            history.target[cur][member]};
    }
    return written;
}

}  // namespace balancer_traffic
