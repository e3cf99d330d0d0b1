// The flags through which the processes of one node coordinate a planned move, in the shared
// status segment. Lock-free atomics, so the parent may use them from a signal handler and a
// request-serving child may read one per request without taking the board's mutex.
#pragma once

#include <atomic>
#include <cstdint>

namespace ha_heartbeat {

struct MoveSignals {
    // Heartbeat process -> children: answer with "Connection: close" on the service addresses
    // whose bit is set (bit i: HaConfig::service_addresses[i]; each address group drains on its
    // own).
    std::atomic<std::uint32_t> draining{0};
    // Parent -> heartbeat process: the server is stopping; drain, resign and release first.
    std::atomic<std::uint32_t> stop_requested{0};
    // Heartbeat process -> parent: this node holds nothing any more (or never did).
    std::atomic<std::uint32_t> stop_ready{0};
    // The heartbeat process's pid while it runs, else 0.
    std::atomic<std::int32_t> heartbeat_pid{0};
};
static_assert(std::atomic<std::uint32_t>::is_always_lock_free &&
                  std::atomic<std::int32_t>::is_always_lock_free,
              "used from a signal handler and across processes");

}  // namespace ha_heartbeat
