// The time source the election takes: the heartbeat process passes the monotonic clock, tests a
// simulated one they advance by hand.
#pragma once

#include <chrono>

#include "monotonic_clock.h"

namespace ha_heartbeat {

class Clock {
  public:
    virtual ~Clock() = default;
    virtual std::chrono::nanoseconds now() const = 0;
};

class MonotonicClock final : public Clock {
  public:
    std::chrono::nanoseconds now() const override {
        return std::chrono::nanoseconds(suite::monotonic_now());
    }
};

}  // namespace ha_heartbeat
