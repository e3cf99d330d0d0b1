// The supervisor of the sync processes, in the httpd parent (see sync_spec.h for the processes).
//
// The parent forks the privileged helper (privileged_helper.cpp), which forks the unprivileged
// worker (sync_worker.cpp); each ends when its parent does (PR_SET_PDEATHSIG, getppid checks),
// and the helper exits when the worker dies. The parent registers the helper as an APR "other
// child", so the MPM reports its death and we restart it, and with it the worker (with a limit on
// quick crash loops). A graceful restart keeps both (the helper's pid and the configuration
// fingerprint live in the process pool, which survives generations); a stop or hard restart
// terminates them.
// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "../common/child_process.h"
#include "docsync_glue.h"
#include "sync_spec.h"

APLOG_USE_MODULE(docsync);

namespace docsync {
namespace {

constexpr std::chrono::seconds kQuickDeath{10};
constexpr int kMaxQuickDeaths = 5;
constexpr std::chrono::milliseconds kTerminateGrace{2000};

// Lives in the process pool: survives configuration generations.
struct ChildRecord {
    apr_proc_t proc{};
    bool running = false;
    std::string fingerprint;
    SyncSpec spec;
    apr_time_t started = 0;
    int quick_deaths = 0;
    apr_pool_t* pconf = nullptr;  // current generation, for re-registration
    server_rec* server = nullptr;
};

void register_child(ChildRecord* rec);

bool alive(ChildRecord* rec) {
    if (!rec->running) return false;
    int status;
    pid_t r = ::waitpid(rec->proc.pid, &status, WNOHANG);
    if (r == 0) return true;
    rec->running = false;
    return false;
}

void terminate(ChildRecord* rec) {
    if (!alive(rec)) return;
    ::kill(rec->proc.pid, SIGTERM);
    suite::reap_or_kill(rec->proc.pid, kTerminateGrace);
    rec->running = false;
}

bool spawn(ChildRecord* rec) {
    pid_t parent = ::getpid();
    apr_status_t rv = apr_proc_fork(&rec->proc, rec->pconf);
    if (rv == APR_INCHILD) {
        try {
            run_sync_process(rec->spec, parent);
        } catch (...) {
        }
        _exit(1);
    }
    if (rv != APR_INPARENT) {
        ap_log_error(APLOG_MARK, APLOG_ERR, rv, rec->server,
                     "docsync: cannot fork the sync process");
        return false;
    }
    rec->running = true;
    rec->started = apr_time_now();
    register_child(rec);
    return true;
}

void maintenance(int reason, void* data, int) {
    auto* rec = static_cast<ChildRecord*>(data);
    switch (reason) {
        case APR_OC_REASON_DEATH:
        case APR_OC_REASON_LOST: {
            apr_proc_other_child_unregister(rec);
            rec->running = false;
            bool quick = apr_time_now() - rec->started < apr_time_from_sec(kQuickDeath.count());
            rec->quick_deaths = quick ? rec->quick_deaths + 1 : 0;
            if (rec->quick_deaths > kMaxQuickDeaths) {
                ap_log_error(APLOG_MARK, APLOG_ERR, 0, rec->server,
                             "docsync: sync process keeps dying; not restarting it until the "
                             "next configuration reload");
                return;
            }
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, rec->server,
                         "docsync: sync process %d exited, restarting it", rec->proc.pid);
            spawn(rec);
            break;
        }
        case APR_OC_REASON_RESTART:
            // Stop or hard restart (a graceful restart does not come here): end the child; a
            // hard restart's post_config starts a new one.
            apr_proc_other_child_unregister(rec);
            terminate(rec);
            break;
        default:
            break;
    }
}

void register_child(ChildRecord* rec) {
    apr_proc_other_child_register(&rec->proc, maintenance, rec, nullptr, rec->pconf);
}

}  // namespace

int sync_child_post_config(apr_pool_t* pconf, server_rec* s, ModuleConfig* config) {
    // httpd reads its configuration twice at startup; start the child only once the server
    // really runs (as mod_cgid does).
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
    static const char* const kKey = "docsync-sync-child";
    void* data = nullptr;
    apr_pool_userdata_get(&data, kKey, s->process->pool);
    auto* rec = static_cast<ChildRecord*>(data);
    if (!rec) {
        rec = new ChildRecord;  // lives as long as the httpd parent process
        apr_pool_userdata_set(rec, kKey, apr_pool_cleanup_null, s->process->pool);
    }
    rec->pconf = pconf;
    rec->server = s;
    if (config->sources.empty()) {
        terminate(rec);
        return OK;
    }
    SyncSpec spec;
    spec.sources = config->sources;
    spec.secret_file = config->secret_file;
    spec.secret_sha256 = config->secret_sha256;
    spec.ca_file = config->ca_file;
    spec.verify_key = config->verify_key;
    spec.long_poll = config->long_poll;
    spec.state_dir = config->state_dir;
    spec.status_file = config->status_file;
    spec.httpd_binary = config->httpd_binary;
    spec.config_file = config->config_file;
    spec.server_root = config->server_root;
    spec.defines = config->defines;
    spec.user = config->sync_user;
    spec.uid = config->sync_uid;
    spec.gid = config->sync_gid;
    spec.drop_privileges = config->drop_privileges;
    std::string fp = spec.fingerprint();
    if (alive(rec) && rec->fingerprint == fp) {
        register_child(rec);  // the previous generation's registration went with its pool
        return OK;
    }
    terminate(rec);
    rec->spec = std::move(spec);
    rec->fingerprint = fp;
    rec->quick_deaths = 0;
    if (!spawn(rec)) return HTTP_INTERNAL_SERVER_ERROR;
    ap_log_error(APLOG_MARK, APLOG_INFO, 0, s, "docsync: sync process %d started", rec->proc.pid);
    return OK;
}

}  // namespace docsync
