// The commands the heartbeat process runs: HANotify on every state change and HATrack health
// checks. Run through /bin/sh without waiting (the heartbeat must keep its timing), reaped and,
// past their time limit, killed. No httpd headers.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "../core/ha_config.h"
#include "../core/log_sink.h"

namespace ha_heartbeat {

// Starts `/bin/sh -c '<command> "$@"' <args...>` in a new process group (its pid). Returns the
// pid, or -1 (errno set).
pid_t spawn_shell(const std::string& command, const std::vector<std::string>& args);

// Notification commands in flight; each gets kNotifyTimeout before it is killed.
class Notifier {
  public:
    Notifier(std::string command, const LogFn& log) : command_(std::move(command)), log_(log) {}
    void notify(NodeState state, const std::string& node, int priority, const std::string& reason);
    void reap(std::chrono::nanoseconds now);
    ~Notifier();

  private:
    struct Running {
        pid_t pid;
        std::chrono::nanoseconds started;
    };
    std::string command_;
    const LogFn& log_;
    std::vector<Running> running_;
};

// The HATrack checks, each run every track interval. A check that has not finished within one
// interval has failed (and is killed).
class HealthTracker {
  public:
    HealthTracker(std::vector<HealthTrack> tracks, std::chrono::nanoseconds interval,
                  const LogFn& log);
    ~HealthTracker();
    // Starts due checks and collects finished ones. Returns true when the verdict changed.
    bool poll(std::chrono::nanoseconds now);
    bool fault() const { return fault_; }
    int penalty() const { return penalty_; }
    const std::string& reason() const { return reason_; }

  private:
    struct Check {
        HealthTrack track;
        pid_t pid = -1;
        std::chrono::nanoseconds started{0};
        std::chrono::nanoseconds next_run{0};
        bool failing = false;
    };
    void finish(Check& c, bool ok, const std::string& why);
    std::vector<Check> checks_;
    std::chrono::nanoseconds interval_;
    const LogFn& log_;
    bool fault_ = false;
    int penalty_ = 0;
    std::string reason_;
};

}  // namespace ha_heartbeat
