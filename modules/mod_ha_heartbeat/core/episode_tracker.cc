#include "episode_tracker.h"

namespace ha_heartbeat {

bool EpisodeTracker::on_event(nanoseconds now) {
    ++total_events_;
    if (active_ && now - last_ < quiet_) {
        last_ = now;
        ++episode_events_;
        return false;
    }
    active_ = true;
    first_ = last_ = now;
    episode_events_ = 1;
    ++episodes_;
    return true;
}

std::optional<EpisodeTracker::Summary> EpisodeTracker::poll(nanoseconds now) {
    if (!active_ || now - last_ < quiet_) return std::nullopt;
    active_ = false;
    return Summary{episode_events_, last_ - first_};
}

}  // namespace ha_heartbeat
