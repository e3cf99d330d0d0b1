#include "drain_policy.h"

namespace ha_heartbeat {

const char* move_name(MoveKind k) {
    return k == MoveKind::Handover ? "handover" : "stop";
}

void DrainPolicy::begin(MoveKind kind) {
    if (phase_ == Phase::Idle) {
        phase_ = Phase::Draining;
        started_ = clock_.now();
    }
    // Moving for a handover and now stopping: the handover proceeds; the stop resigns after it.
    if (phase_ == Phase::Draining) kind_ = kind;
}

std::optional<std::string> DrainPolicy::poll(int open_connections) {
    if (phase_ != Phase::Draining) return std::nullopt;
    const nanoseconds waited = clock_.now() - started_;
    const long long ms = std::chrono::duration_cast<milliseconds>(waited).count();
    if (open_connections == 0) {
        phase_ = Phase::Moving;
        return "drained in " + std::to_string(ms) + " ms";
    }
    if (waited >= timeout_) {
        phase_ = Phase::Moving;
        return open_connections < 0
                   ? "drain timeout after " + std::to_string(ms) +
                         " ms (open connections could not be counted)"
                   : "drain timeout after " + std::to_string(ms) + " ms with " +
                         std::to_string(open_connections) + " connection(s) still open";
    }
    return std::nullopt;
}

}  // namespace ha_heartbeat
