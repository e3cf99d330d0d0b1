#include "stop_signals.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>

#include "module_state.h"
#include "os/heartbeat_process.h"

namespace ha_heartbeat {
namespace {

constexpr int kStopSignals[] = {SIGTERM, SIGWINCH};  // httpd -k stop, -k graceful-stop
constexpr int kSignalCount = sizeof kStopSignals / sizeof kStopSignals[0];
// How often the waiting handler looks at the heartbeat process's answer.
constexpr int kPollMs = 5;
// Beyond the heartbeat process's own bound: its loop wakes every 10 ms, plus scheduling.
constexpr std::int64_t kWaitMarginNs = 1000000000;

struct sigaction g_saved[kSignalCount];
bool g_installed = false;
pid_t g_parent = 0;
std::int64_t g_wait_ns = 0;

std::int64_t monotonic_ns() {
    timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
    return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

int slot_of(int sig) {
    for (int i = 0; i < kSignalCount; ++i)
        if (kStopSignals[i] == sig) return i;
    return -1;
}

// Only async-signal-safe calls: atomics, getpid, kill, clock_gettime, poll.
void wait_for_planned_stop() {
    if (getpid() != g_parent || !g_board) return;  // a child forked with this handler
    MoveSignals& m = g_board->moves;
    const pid_t hb = m.heartbeat_pid.load();
    if (hb <= 0 || kill(hb, 0) != 0 || m.stop_ready.load() != 0) return;
    m.stop_requested.store(1);
    const std::int64_t deadline = monotonic_ns() + g_wait_ns;
    while (m.stop_ready.load() == 0 && m.heartbeat_pid.load() == hb && monotonic_ns() < deadline)
        poll(nullptr, 0, kPollMs);
}

extern "C" void on_parent_stop_signal(int sig, siginfo_t* info, void* context) {
    const int saved_errno = errno;
    wait_for_planned_stop();
    errno = saved_errno;
    const int i = slot_of(sig);
    if (i < 0) return;
    const struct sigaction& old = g_saved[i];
    if (old.sa_flags & SA_SIGINFO) {
        if (old.sa_sigaction) old.sa_sigaction(sig, info, context);
    } else if (old.sa_handler == SIG_DFL) {
        sigaction(sig, &old, nullptr);
        raise(sig);
    } else if (old.sa_handler != SIG_IGN && old.sa_handler) {
        old.sa_handler(sig);
    }
}

apr_status_t restore_stop_signals(void*) {
    if (!g_installed) return APR_SUCCESS;
    for (int i = 0; i < kSignalCount; ++i) {
        struct sigaction current {};
        sigaction(kStopSignals[i], nullptr, &current);
        // Only ours is put back: httpd may have installed its own again meanwhile.
        if ((current.sa_flags & SA_SIGINFO) && current.sa_sigaction == on_parent_stop_signal)
            sigaction(kStopSignals[i], &g_saved[i], nullptr);
    }
    g_installed = false;
    return APR_SUCCESS;
}

}  // namespace

void defer_stop_signals(apr_pool_t* pconf, const HaConfig& config) {
    if (g_installed || config.drain_timeout.count() <= 0) return;
    g_parent = getpid();
    g_wait_ns = (planned_stop_bound(config) + std::chrono::nanoseconds(kWaitMarginNs)).count();
    for (int i = 0; i < kSignalCount; ++i) {
        struct sigaction ours {};
        ours.sa_sigaction = on_parent_stop_signal;
        ours.sa_flags = SA_SIGINFO;
        sigemptyset(&ours.sa_mask);
        // A second stop signal while the first waits is handled after it, not inside it.
        for (int s : kStopSignals) sigaddset(&ours.sa_mask, s);
        if (sigaction(kStopSignals[i], &ours, &g_saved[i]) != 0) {
            restore_stop_signals(nullptr);
            return;
        }
        g_installed = true;
    }
    apr_pool_cleanup_register(pconf, nullptr, restore_stop_signals, apr_pool_cleanup_null);
}

}  // namespace ha_heartbeat
