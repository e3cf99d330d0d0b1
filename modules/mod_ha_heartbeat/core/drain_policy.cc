#include "drain_policy.h"

namespace ha_heartbeat {

const char* move_name(MoveKind k) {
    return k == MoveKind::kHandover ? "handover" : "stop";
}

void DrainPolicy::begin(MoveKind kind) {
    if (phase_ == Phase::kIdle) {
        phase_ = Phase::kDraining;
        started_ = clock_.now();
    }
    // Moving for a handover and now stopping: the handover proceeds; the stop resigns after it.
    if (phase_ == Phase::kDraining) kind_ = kind;
}

std::optional<std::string> DrainPolicy::poll(int open_connections) {
    if (phase_ != Phase::kDraining) return std::nullopt;
    const nanoseconds waited = clock_.now() - started_;
    const long long ms = std::chrono::duration_cast<milliseconds>(waited).count();
    drained_ = open_connections == 0;
    if (open_connections == 0) {
        phase_ = Phase::kMoving;
        return "drained in " + std::to_string(ms) + " ms";
    }
    if (waited >= timeout_) {
        phase_ = Phase::kMoving;
        return open_connections < 0
                   ? "drain timeout after " + std::to_string(ms) +
                         " ms (open connections could not be counted)"
                   : "drain timeout after " + std::to_string(ms) + " ms with " +
                         std::to_string(open_connections) + " connection(s) still open";
    }
    return std::nullopt;
}

}  // namespace ha_heartbeat
