// Turns a stream of like events (another node claiming master, rejected datagrams) into
// episodes, so the error log gets one line when an episode begins and one when it has ended,
// with its count and duration, never a line per event. An episode ends after `quiet` without
// an event. Pure, driven by the caller's clock.
#pragma once

#include <cstdint>
#include <optional>

#include "clock.h"
#include "ha_types.h"

namespace ha_heartbeat {

class EpisodeTracker {
  public:
    struct Summary {
        std::uint64_t events;
        nanoseconds duration;  // first event to last
    };

    explicit EpisodeTracker(nanoseconds quiet) : quiet_(quiet) {}

    // Records an event; true when it begins a new episode.
    bool on_event(nanoseconds now);
    // The episode under way, once `quiet` has passed since its last event (reported once).
    std::optional<Summary> poll(nanoseconds now);

    bool active() const { return active_; }
    std::uint64_t episodes() const { return episodes_; }
    std::uint64_t events() const { return total_events_; }

  private:
    nanoseconds quiet_;
    bool active_ = false;
    nanoseconds first_{0};
    nanoseconds last_{0};
    std::uint64_t episode_events_ = 0;
    std::uint64_t episodes_ = 0;
    std::uint64_t total_events_ = 0;
};

}  // namespace ha_heartbeat
