#include "child_commands.h"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

extern char** environ;

namespace ha_heartbeat {
namespace {

constexpr std::chrono::seconds kNotifyTimeout{30};
constexpr std::size_t kMaxNotifiersInFlight = 32;
constexpr const char* kShell = "/bin/sh";

// Returns true with the exit status once `pid` has ended.
bool reaped(pid_t pid, int* status) {
    return waitpid(pid, status, WNOHANG) == pid;
}

// Each command runs in a process group of its own (see spawn_shell), so this also ends what the
// shell started, which would otherwise run on as an orphan.
void kill_and_reap(pid_t pid) {
    kill(-pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
}

}  // namespace

pid_t spawn_shell(const std::string& command, const std::vector<std::string>& args) {
    const std::string script = command + " \"$@\"";
    std::vector<std::string> argv_strings{"sh", "-c", script, "ha-heartbeat"};
    argv_strings.insert(argv_strings.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& s : argv_strings) argv.push_back(s.data());
    argv.push_back(nullptr);
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &all);
    posix_spawnattr_setpgroup(&attr, 0);
    posix_spawnattr_setflags(
        &attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP);
    pid_t pid = -1;
    const int rc = posix_spawn(&pid, kShell, nullptr, &attr, argv.data(), environ);
    posix_spawnattr_destroy(&attr);
    if (rc != 0) {
        errno = rc;
        return -1;
    }
    return pid;
}

void Notifier::notify(NodeState state, const std::string& node, int priority,
                      const std::string& reason) {
    if (command_.empty()) return;
    if (running_.size() >= kMaxNotifiersInFlight) {
        log_(kLogWarning, "HANotify: " + std::to_string(running_.size()) +
                              " notifications still running; not starting another");
        return;
    }
    const pid_t pid =
        spawn_shell(command_, {state_name(state), node, std::to_string(priority), reason});
    if (pid < 0) {
        log_(kLogError, "HANotify: cannot run '" + command_ + "': " + std::strerror(errno));
        return;
    }
    running_.push_back({pid, MonotonicClock().now()});
}

void Notifier::reap(std::chrono::nanoseconds now) {
    for (auto it = running_.begin(); it != running_.end();) {
        int status = 0;
        if (reaped(it->pid, &status)) {
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
                log_(kLogWarning,
                     "HANotify: '" + command_ + "' failed (status " + std::to_string(status) + ")");
            it = running_.erase(it);
        } else if (now - it->started > kNotifyTimeout) {
            log_(kLogWarning, "HANotify: '" + command_ + "' still running after " +
                                  std::to_string(kNotifyTimeout.count()) + " s; killed");
            kill_and_reap(it->pid);
            it = running_.erase(it);
        } else {
            ++it;
        }
    }
}

Notifier::~Notifier() {
    // Let notifications finish on their own; only reap what has ended so no zombie is left
    // by a process that is about to exit anyway.
    int status = 0;
    for (const Running& r : running_) reaped(r.pid, &status);
}

HealthTracker::HealthTracker(std::vector<HealthTrack> tracks, std::chrono::nanoseconds interval,
                             const LogFn& log)
    : interval_(interval), log_(log) {
    for (auto& t : tracks) checks_.push_back(Check{std::move(t)});
}

HealthTracker::~HealthTracker() {
    for (Check& c : checks_)
        if (c.pid > 0) kill_and_reap(c.pid);
}

void HealthTracker::finish(Check& c, bool ok, const std::string& why) {
    if (ok == !c.failing) return;
    c.failing = !ok;
    log_(ok ? kLogNotice : kLogWarning,
         "HATrack: '" + c.track.target + "' " + (ok ? "healthy again" : "failing: " + why));
}

bool HealthTracker::poll(std::chrono::nanoseconds now) {
    for (Check& c : checks_) {
        if (c.track.kind == HealthTrack::Kind::kFile) {
            if (now < c.next_run) continue;
            c.next_run = now + interval_;
            // keepalived's track_file convention: the file holds a number, 0 means healthy.
            std::ifstream in(c.track.target);
            long value = -1;
            if (!(in >> value)) {
                finish(c, false, "missing or unreadable");
            } else {
                finish(c, value == 0, "holds " + std::to_string(value));
            }
            continue;
        }
        if (c.pid > 0) {
            int status = 0;
            if (reaped(c.pid, &status)) {
                c.pid = -1;
                const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
                finish(
                    c, ok,
                    "exit status " + std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1));
            } else if (now - c.started > interval_) {
                kill_and_reap(c.pid);
                c.pid = -1;
                finish(c, false, "no answer within the track interval");
            }
            continue;
        }
        if (now < c.next_run) continue;
        c.next_run = now + interval_;
        c.pid = spawn_shell(c.track.target, {});
        c.started = now;
        if (c.pid < 0) finish(c, false, std::string("cannot run: ") + std::strerror(errno));
    }
    bool fault = false;
    int penalty = 0;
    std::string reason;
    for (const Check& c : checks_) {
        if (!c.failing) continue;
        if (c.track.weight == 0) fault = true;
        penalty += c.track.weight;
        reason += (reason.empty() ? "" : ", ") + ("'" + c.track.target + "' failing");
    }
    const bool changed = fault != fault_ || penalty != penalty_;
    fault_ = fault;
    penalty_ = penalty;
    reason_ = reason.empty() ? "all HATrack checks healthy" : reason;
    return changed;
}

}  // namespace ha_heartbeat
