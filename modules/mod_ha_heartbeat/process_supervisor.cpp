// The heartbeat process's life, seen from the httpd parent. httpd 2.4 runs the monitor hook only
// about every 10 s, far too coarse for 100 ms heartbeats, so the loop runs in a process of its
// own, forked here (rather than a mod_watchdog thread, which would share the parent's
// privileges and could not drop to CAP_NET_ADMIN/CAP_NET_RAW alone). The parent:
//  - forks it once, in the first real post_config; a graceful restart finds it running (its pid
//    is kept in the process pool, which survives restarts) and leaves it alone: state and
//    addresses are untouched;
//  - registers it as an APR "other child", so the MPM's reaping loop tells us when it dies and
//    we start a new one (which begins by removing the addresses, as a node not master must);
//  - stops it when the server stops: SIGTERM makes it resign (priority 0) and release. The
//    process pool's cleanup, run last, sends it and waits (bounded, then SIGKILL); but by then
//    the workers are long gone and the address would have gone unanswered meanwhile. So the
//    first sign of a stop is used too: the MPM's reaping loop, entered at stop, reports RESTART
//    to other children. A non-graceful restart reaps the same way, but with a new generation
//    number or a new configuration, which is how the two are told apart (server_is_stopping).
//    PR_SET_PDEATHSIG covers a parent that dies without running its cleanups.
// clang-format off: httpd.h first, the other httpd headers rely on what it declares.
#include <httpd.h>
// clang-format on
#include <ap_listen.h>
#include <ap_mpm.h>
#include <apr_portable.h>
#include <apr_thread_proc.h>
#include <http_log.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <unixd.h>

#include <chrono>
#include <new>
#include <string>

#include "../common/child_process.h"
#include "balancer_health.h"
#include "module_state.h"
#include "os/heartbeat_process.h"

APLOG_USE_MODULE(ha_heartbeat);

namespace ha_heartbeat {
namespace {

constexpr const char* kSupervisorKey = "ha_heartbeat_supervisor";
// How long server stop waits for the heartbeat process to resign and release.
constexpr std::chrono::seconds kStopWait{5};

struct Supervisor {
    apr_proc_t proc{};
    bool running = false;
    const HaConfig* config = nullptr;  // the current generation's, valid while pconf lives
    server_rec* server = nullptr;
    std::string fingerprint;  // of the configuration the running process was started with
    bool stop_sent = false;
    apr_status_t (*stop_cleanup)(void*) = nullptr;  // as registered on the process pool
};

// True between a post_config and the first worker of that generation starting.
bool g_fresh_generation = true;
ap_generation_t g_running_generation = 0;  // of the workers last started

ap_generation_t current_generation() {
    int generation = 0;
    ap_mpm_query(AP_MPMQ_GENERATION, &generation);
    return generation;
}

// At a stop the MPM reaps its workers without a new generation; at a non-graceful restart it
// reaps them either after the generation number went up (httpd 2.4) or after the new
// configuration was read (trunk), which the two conditions tell apart.
bool server_is_stopping() {
    return !g_fresh_generation && current_generation() == g_running_generation;
}
Supervisor* g_supervisor = nullptr;  // in the process pool, lives until the server stops

void send_stop(Supervisor* sup, const char* why) {
    if (!sup->running || sup->stop_sent || sup->proc.pid <= 0) return;
    sup->stop_sent = true;
    kill(sup->proc.pid, SIGTERM);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, sup->server, "stopping heartbeat process %d: %s",
                 static_cast<int>(sup->proc.pid), why);
}

std::string fingerprint(const HaConfig& c) {
    std::string f =
        c.node_name + "|" + std::to_string(c.priority) + "|" + c.listen.text() + "|" +
        std::to_string(c.interval.count()) + "|" + std::to_string(c.dead_interval.count()) + "|" +
        std::to_string(c.preempt) + "|" + std::to_string(c.preempt_delay.count()) + "|" +
        c.secret_file + "|" + c.notify_command + "|" + std::to_string(c.cluster_id) + "|" + c.user +
        "|" + std::to_string(c.track_balancers) + std::to_string(c.balancer_weight) + "|" +
        std::to_string(c.drain_timeout.count()) + "|" + std::to_string(c.realtime_priority);
    for (const auto& p : c.peers) f += "|peer " + p.text();
    for (const auto& a : c.service_addresses) f += "|addr " + a.text() + " " + a.interface;
    for (const auto& t : c.tracks) f += "|track " + t.target + " " + std::to_string(t.weight);
    return f;
}

void child_log(server_rec* s, int level, const std::string& message) {
    ap_log_error(APLOG_MARK, level, 0, s, "heartbeat: %s", message.c_str());
}

[[noreturn]] void heartbeat_child(const HaConfig& config, server_rec* s, pid_t parent) {
    // Never return into httpd code, never run the parent's pool cleanups: _exit only.
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(0);
    // The listening sockets belong to the request-serving children.
    for (ap_listen_rec* lr = ap_listeners; lr; lr = lr->next) {
        apr_os_sock_t fd = -1;
        if (lr->sd && apr_os_sock_get(&fd, lr->sd) == APR_SUCCESS && fd >= 0) close(fd);
    }
    ProcessIdentity identity;
    identity.drop_privileges = true;
    // HAUser, resolved at config time (check_config refuses a missing user).
    identity.uid = config.user_id;
    identity.gid = config.group_id;
    int rc = 1;
    try {
        const LogFn log = [s](int level, const std::string& m) { child_log(s, level, m); };
        const HealthCheck balancers = config.track_balancers ? balancer_check(s) : HealthCheck();
        rc = run_heartbeat_process(config, g_board, identity, log, balancers);
    } catch (const std::exception& e) {
        child_log(s, APLOG_CRIT, std::string("heartbeat process failed: ") + e.what());
    } catch (...) {
        child_log(s, APLOG_CRIT, "heartbeat process failed");
    }
    _exit(rc);
}

void maintenance(int reason, void* data, int status);

bool start_child(Supervisor* sup, apr_pool_t* pconf) {
    const pid_t parent = getpid();
    apr_proc_t proc;
    const apr_status_t rv = apr_proc_fork(&proc, pconf);
    if (rv == APR_INCHILD) heartbeat_child(*sup->config, sup->server, parent);
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, sup->server, "cannot fork the heartbeat process");
        return false;
    }
    sup->proc = proc;
    sup->running = true;
    sup->stop_sent = false;
    sup->fingerprint = fingerprint(*sup->config);
    apr_proc_other_child_register(&sup->proc, maintenance, sup, nullptr, pconf);
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, sup->server, "started heartbeat process %d",
                 static_cast<int>(proc.pid));
    return true;
}

apr_pool_t* g_generation_pool = nullptr;  // pconf of the current generation

void maintenance(int reason, void* data, int status) {
    auto* sup = static_cast<Supervisor*>(data);
    switch (reason) {
        case APR_OC_REASON_DEATH:
        case APR_OC_REASON_LOST:
            apr_proc_other_child_unregister(sup);
            sup->running = false;
            {
                int mpm_state = AP_MPMQ_STARTING;
                ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state);
                if (mpm_state == AP_MPMQ_STOPPING) return;
            }
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, sup->server,
                         "heartbeat process %d ended (status %d); starting a new one",
                         static_cast<int>(sup->proc.pid), status);
            if (g_generation_pool) start_child(sup, g_generation_pool);
            break;
        case APR_OC_REASON_RESTART:
            if (server_is_stopping()) send_stop(sup, "the server is stopping");
            break;
        default:
            // RUNNING, UNREGISTER (pconf cleared at a restart): the process keeps going.
            break;
    }
}

apr_status_t stop_child(void* data) {
    auto* sup = static_cast<Supervisor*>(data);
    if (!sup->running || sup->proc.pid <= 0) return APR_SUCCESS;
    const pid_t pid = sup->proc.pid;
    send_stop(sup, "the server has stopped");
    suite::reap_or_kill(pid, kStopWait);
    sup->running = false;
    return APR_SUCCESS;
}

apr_status_t forget_generation(void*) {
    g_generation_pool = nullptr;
    return APR_SUCCESS;
}

}  // namespace

void note_worker_started(ap_generation_t generation) {
    g_fresh_generation = false;
    g_running_generation = generation;
}

void note_worker_exited(ap_generation_t generation) {
    // `graceful-stop` closes the listeners at once but reaps through the path that reports
    // RESTART only after every worker has finished; a worker of the running generation exiting
    // while the MPM is stopping is the earliest sign of it. (During a graceful restart the
    // workers that exit belong to the previous generation.)
    int mpm_state = AP_MPMQ_RUNNING;
    ap_mpm_query(AP_MPMQ_MPM_STATE, &mpm_state);
    if (g_supervisor && !g_fresh_generation && mpm_state == AP_MPMQ_STOPPING &&
        generation == g_running_generation && generation == current_generation())
        send_stop(g_supervisor, "the server is stopping (a worker exited)");
}

int supervise_heartbeat_process(apr_pool_t* pconf, server_rec* s, const HaConfig& config) {
    apr_pool_t* process_pool = s->process->pool;
    void* data = nullptr;
    apr_pool_userdata_get(&data, kSupervisorKey, process_pool);
    auto* sup = static_cast<Supervisor*>(data);
    if (!sup) {
        sup = new (apr_pcalloc(process_pool, sizeof(Supervisor))) Supervisor();
        apr_pool_userdata_set(sup, kSupervisorKey, apr_pool_cleanup_null, process_pool);
    }
    // On the pool that lives until the server stops. httpd unloads and reloads this module at
    // every restart, possibly elsewhere in memory, so the cleanup registered by the previous
    // load is replaced by one pointing into this load's code.
    if (sup->stop_cleanup) apr_pool_cleanup_kill(process_pool, sup, sup->stop_cleanup);
    sup->stop_cleanup = stop_child;
    apr_pool_cleanup_register(process_pool, sup, stop_child, apr_pool_cleanup_null);
    sup->config = &config;
    sup->server = s;
    g_fresh_generation = true;
    g_supervisor = sup;
    g_generation_pool = pconf;
    apr_pool_cleanup_register(pconf, nullptr, forget_generation, apr_pool_cleanup_null);
    if (sup->running && kill(sup->proc.pid, 0) == 0) {
        if (sup->fingerprint != fingerprint(config))
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                         "HA directives changed; the running heartbeat process keeps its "
                         "configuration until httpd is stopped and started");
        apr_proc_other_child_register(&sup->proc, maintenance, sup, nullptr, pconf);
        return OK;
    }
    return start_child(sup, pconf) ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

}  // namespace ha_heartbeat
