// The clock every core takes as a parameter: tests pass a fake one, the glue passes this.
#pragma once

#include <chrono>
#include <cstdint>

namespace suite {

// Nanoseconds on CLOCK_MONOTONIC: the same timeline in every process of the machine, so it can
// be stored in shared memory, and immune to wall-clock steps.
using MonoNanos = std::int64_t;

inline MonoNanos monotonic_now() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

}  // namespace suite
