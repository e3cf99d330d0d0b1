#include "realtime.h"

#include <sched.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include <cerrno>
#include <csignal>
#include <cstring>

namespace ha_heartbeat {
namespace {

// CPU time the real-time loop may use without sleeping before SIGXCPU. One iteration takes
// microseconds and the loop sleeps in poll() every pass; only a loop kept busy by a flood gets
// near this.
constexpr rlim_t kRealtimeBudgetUs = 200000;

volatile std::sig_atomic_t g_overrun = 0;
extern "C" void on_cpu_limit(int) {
    g_overrun = 1;
}

}  // namespace

std::string enter_realtime(int priority) {
    if (priority <= 0) return "normal scheduling (HARealtime off)";
    std::string out;
    sched_param sp{};
    sp.sched_priority = priority;
    // RESET_ON_FORK: the commands the process starts run with normal scheduling.
    if (sched_setscheduler(0, SCHED_RR | SCHED_RESET_ON_FORK, &sp) == 0) {
        struct sigaction sa {};
        sa.sa_handler = on_cpu_limit;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGXCPU, &sa, nullptr);
        const rlimit rt{kRealtimeBudgetUs, RLIM_INFINITY};
        setrlimit(RLIMIT_RTTIME, &rt);
        out = "SCHED_RR priority " + std::to_string(priority);
    } else {
        out = std::string("normal scheduling (SCHED_RR refused: ") + std::strerror(errno) + ")";
    }
    // What is mapped now, locked as pages are touched (ONFAULT), so the copy of httpd's memory
    // this process never uses is not pulled in; the limit goes first, while the process may
    // still raise it. Not MCL_FUTURE: with it the process ended (status 2) about a second after
    // starting, in the test containers, for a reason not found yet; the loop allocates little
    // after startup, so what it uses is mapped, and locked, by then.
    const rlimit unlimited{RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_MEMLOCK, &unlimited);
    if (mlockall(MCL_CURRENT | MCL_ONFAULT) == 0)
        out += ", memory locked";
    else
        out += std::string(", memory not locked (") + std::strerror(errno) + ")";
    return out;
}

std::vector<int> allowed_cpus() {
    std::vector<int> out;
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (sched_getaffinity(0, sizeof allowed, &allowed) != 0) return out;
    for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu)
        if (CPU_ISSET(cpu, &allowed)) out.push_back(cpu);
    return out;
}

bool pin_to_cpu(int cpu) {
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    return sched_setaffinity(0, sizeof one, &one) == 0;
}

bool realtime_overrun_handled() {
    if (!g_overrun) return false;
    g_overrun = 0;
    sched_param sp{};
    sched_setscheduler(0, SCHED_OTHER, &sp);
    signal(SIGXCPU, SIG_IGN);
    return true;
}

}  // namespace ha_heartbeat
