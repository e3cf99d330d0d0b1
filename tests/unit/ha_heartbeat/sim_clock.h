// A clock the tests advance by hand.
#pragma once

#include "clock.h"

namespace ha_heartbeat::testing {

class SimClock final : public Clock {
  public:
    std::chrono::nanoseconds now() const override { return now_; }
    void advance(std::chrono::nanoseconds d) { now_ += d; }

  private:
    std::chrono::nanoseconds now_{std::chrono::seconds(1000)};
};

}  // namespace ha_heartbeat::testing
