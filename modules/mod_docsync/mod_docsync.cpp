// mod_docsync: the httpd module record, directives and hook registration.
// Manifests, deltas, signing, planning and safe writes live in core/ and know nothing of httpd;
// the export and status handlers and the sync child are the adapter files beside this one.
// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <ap_mpm.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_main.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <new>
#include <string>

#include "../common/directive_glue.h"
#include "../common/httpd_glue.h"
#include "answer_auth.h"
#include "crypto.h"
#include "docsync_glue.h"
#include "request_auth.h"
#include "sync_spec.h"

APLOG_USE_MODULE(docsync);

namespace docsync {
namespace {

constexpr std::size_t kMaxExportNameBytes = 64;
constexpr std::chrono::seconds kMaxSkewLimit{3600};

// The DocSync* directives configure the whole server: refuse them inside a <VirtualHost>, where
// they would silently be ignored.
const char* main_server_config(cmd_parms* cmd, ModuleConfig** config) {
    if (cmd->server->is_virtual) return suite::directive_error(cmd, "not allowed in <VirtualHost>");
    if (const char* error = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return error;
    *config = module_config(cmd->server);
    return nullptr;
}

bool valid_export_name(const std::string& name) {
    if (name.empty() || name.size() > kMaxExportNameBytes) return false;
    for (char c : name)
        if (!isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.')
            return false;
    return name != "." && name != "..";
}

// The unprivileged user the sync worker runs as: it must exist and not be root.
bool resolve_sync_user(const std::string& name, ModuleConfig* config, std::string* error) {
    errno = 0;
    struct passwd* pw = ::getpwnam(name.c_str());
    if (!pw) {
        *error = "user '" + name +
                 "' does not exist; create it with `adduser --system --group --no-create-home " +
                 name + "` (or `useradd --system --user-group --no-create-home --shell " +
                 "/usr/sbin/nologin " + name + "`), or name another unprivileged user";
        return false;
    }
    if (pw->pw_uid == 0 || pw->pw_gid == 0) {
        *error = "user '" + name + "' has uid or gid 0; the sync worker must not run as root";
        return false;
    }
    if (config) {
        config->sync_uid = pw->pw_uid;
        config->sync_gid = pw->pw_gid;
    }
    return true;
}

const char* set_export(cmd_parms* cmd, void*, const char* name, const char* dir) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        if (!valid_export_name(name))
            return suite::directive_error(cmd, std::string("export name '") + name +
                                                   "' must be 1-64 characters of [A-Za-z0-9._-]");
        for (const auto& e : config->exports)
            if (e.name == name)
                return suite::directive_error(cmd,
                                              std::string("export '") + name + "' defined twice");
        const char* path = ap_server_root_relative(cmd->pool, dir);
        struct stat st;
        if (!path || stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
            return suite::directive_error(cmd, std::string(dir) + " is not a directory");
        config->exports.push_back(ExportConfig{name, path});
        return nullptr;
    });
}

const char* set_source(cmd_parms* cmd, void*, int argc, char* const argv[]) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        std::vector<std::string> args(argv, argv + argc);
        SourceOptions source;
        std::string error;
        if (!parse_source_args(args, &source, &error)) return suite::directive_error(cmd, error);
        // Two sources writing the same tree (or one inside the other) would undo each other.
        auto inside = [](const std::string& a, const std::string& b) {
            return a == b ||
                   (a.size() > b.size() && a.compare(0, b.size(), b) == 0 && a[b.size()] == '/');
        };
        for (const auto& s : config->sources)
            if (inside(source.local_dir, s.local_dir) || inside(s.local_dir, source.local_dir))
                return suite::directive_error(cmd, source.local_dir + " is the same as or inside " +
                                                       s.local_dir + " (synced from " + s.url +
                                                       ")");
        config->sources.push_back(std::move(source));
        return nullptr;
    });
}

const char* set_secret_file(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        const char* path = ap_server_root_relative(cmd->pool, arg);
        if (!path) return suite::directive_error(cmd, std::string("bad path ") + arg);
        // The configtest of a synced configuration runs as DocSyncUser, which may not read the
        // file: a file that exists but is not ours to read is checked when the server really
        // starts. A missing file is still an error.
        if (suite::unreadable_in_unprivileged_check(path)) {
            config->secret_file = path;
            return nullptr;
        }
        std::string error;
        std::string secret = load_secret_file(path, &error);
        if (secret.empty()) return suite::directive_error(cmd, error);
        config->secret_file = path;
        config->secret_sha256 = sha256_hex(secret);
        config->secret = std::move(secret);
        return nullptr;
    });
}

const char* set_max_skew(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        std::chrono::nanoseconds v;
        if (const char* err =
                suite::set_duration(cmd, arg, {std::chrono::seconds(1), kMaxSkewLimit}, &v))
            return err;
        config->max_skew = std::chrono::duration_cast<std::chrono::seconds>(v);
        return nullptr;
    });
}

const char* set_rescan(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        std::chrono::nanoseconds v;
        if (const char* err =
                suite::set_duration(cmd, arg, {kMinRescanInterval, std::chrono::hours(24)}, &v))
            return err;
        config->rescan_interval = std::chrono::duration_cast<std::chrono::milliseconds>(v);
        return nullptr;
    });
}

const char* set_long_poll(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        std::chrono::nanoseconds v;
        if (const char* err =
                suite::set_duration(cmd, arg, {std::chrono::seconds(0), kMaxLongPoll}, &v))
            return err;
        config->long_poll = std::chrono::duration_cast<std::chrono::seconds>(v);
        return nullptr;
    });
}

const char* set_max_long_polls(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        std::string error;
        if (!parse_long_poll_share(arg, &config->max_long_polls, &error))
            return suite::directive_error(cmd, error);
        return nullptr;
    });
}

const char* set_ca_file(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        const char* path = ap_server_root_relative(cmd->pool, arg);
        if (!path || access(path, R_OK) != 0)
            return suite::directive_error(cmd, std::string(arg) + " is not readable");
        config->ca_file = path;
        return nullptr;
    });
}

const char* set_sync_user(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        std::string error;
        if (!resolve_sync_user(arg, nullptr, &error)) return suite::directive_error(cmd, error);
        config->sync_user = arg;
        return nullptr;
    });
}

const char* set_signing_key_file(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        const char* path = ap_server_root_relative(cmd->pool, arg);
        if (!path) return suite::directive_error(cmd, std::string("bad path ") + arg);
        // Like DocSyncSecretFile: the unprivileged configtest may not read it (mode 0600); the
        // real start checks it.
        if (suite::unreadable_in_unprivileged_check(path)) return nullptr;
        std::string error;
        std::string key = load_ed25519_private_key_file(path, &error);
        if (key.empty()) return suite::directive_error(cmd, error);
        config->signing_key = std::move(key);
        return nullptr;
    });
}

const char* set_verify_key_file(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, main_server_config, [&](ModuleConfig* config) -> const char* {
        const char* path = ap_server_root_relative(cmd->pool, arg);
        if (!path) return suite::directive_error(cmd, std::string("bad path ") + arg);
        if (suite::unreadable_in_unprivileged_check(path)) return nullptr;
        std::string error;
        std::string key = load_ed25519_public_key_file(path, &error);
        if (key.empty()) return suite::directive_error(cmd, error);
        config->verify_key = std::move(key);
        return nullptr;
    });
}

const command_rec directives[] = {
    AP_INIT_TAKE2("DocSyncExport", reinterpret_cast<cmd_func>(set_export), nullptr, RSRC_CONF,
                  "DocSyncExport <name> <directory>: publish a directory tree to secondaries"),
    AP_INIT_TAKE_ARGV("DocSyncSource", reinterpret_cast<cmd_func>(set_source), nullptr, RSRC_CONF,
                      "DocSyncSource <url-of-export> <local-directory> [delete=on|off] "
                      "[restart=graceful] [exclude=<glob>]... [max-bytes=<size>|off] "
                      "[max-files=<n>] [max-delete=<n>|<p>%|off] [empty-manifest=refuse|allow] "
                      "[stall-timeout=<duration>] [round-timeout=<duration>]"),
    AP_INIT_TAKE1("DocSyncSecretFile", reinterpret_cast<cmd_func>(set_secret_file), nullptr,
                  RSRC_CONF, "File with the shared HMAC secret (not readable by others)"),
    AP_INIT_TAKE1("DocSyncMaxClockSkew", reinterpret_cast<cmd_func>(set_max_skew), nullptr,
                  RSRC_CONF, "Accepted age of a signed request (default 60s)"),
    AP_INIT_TAKE1("DocSyncRescanInterval", reinterpret_cast<cmd_func>(set_rescan), nullptr,
                  RSRC_CONF, "Full rescan period of exports besides inotify (default 30s)"),
    AP_INIT_TAKE1("DocSyncLongPoll", reinterpret_cast<cmd_func>(set_long_poll), nullptr, RSRC_CONF,
                  "Longest wait of a manifest request for a change (default 25s)"),
    AP_INIT_TAKE1("DocSyncExportMaxLongPolls", reinterpret_cast<cmd_func>(set_max_long_polls),
                  nullptr, RSRC_CONF,
                  "Long polls allowed to wait at once, a number or a share of MaxRequestWorkers "
                  "(default 25%); beyond it they are answered at once"),
    AP_INIT_TAKE1("DocSyncUser", reinterpret_cast<cmd_func>(set_sync_user), nullptr, RSRC_CONF,
                  "Unprivileged user the sync worker runs as (default docsync)"),
    AP_INIT_TAKE1("DocSyncCACertificateFile", reinterpret_cast<cmd_func>(set_ca_file), nullptr,
                  RSRC_CONF,
                  "PEM trust anchors for https sources, replacing the system store (default: "
                  "system store)"),
    AP_INIT_TAKE1("DocSyncSigningKeyFile", reinterpret_cast<cmd_func>(set_signing_key_file),
                  nullptr, RSRC_CONF,
                  "PEM Ed25519 private key the exports sign their answers with (mode 0600)"),
    AP_INIT_TAKE1("DocSyncVerifyKeyFile", reinterpret_cast<cmd_func>(set_verify_key_file), nullptr,
                  RSRC_CONF,
                  "PEM Ed25519 public key the sources require answers to be signed with"),
    {nullptr, {nullptr}, nullptr, 0, RAW_ARGS, nullptr}};

// The -f file this server was started with (httpd keeps it in a local of main()); without -f,
// the compiled-in default, which Debian sets to apache2.conf in the ServerRoot.
std::string main_config_file(apr_pool_t* p, server_rec* s) {
    const char* const* argv = s->process->argv;
    const char* name = nullptr;
    for (int i = 1; i < s->process->argc; ++i) {
        if (!strcmp(argv[i], "-f") && i + 1 < s->process->argc)
            name = argv[i + 1];
        else if (!strncmp(argv[i], "-f", 2) && argv[i][2])
            name = argv[i] + 2;
    }
    if (name) return ap_server_root_relative(p, name);
    const char* debian = ap_server_root_relative(p, "apache2.conf");
    if (debian && access(debian, R_OK) == 0) return debian;
    return ap_server_root_relative(p, SERVER_CONFIG_FILE);
}

std::string self_executable() {
    char buf[4096];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t* ptemp, server_rec* s) {
    try {
        ModuleConfig* config = module_config(s);
        if ((!config->exports.empty() || !config->sources.empty()) && config->secret.empty()) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(10601)
                         "DocSyncSecretFile: required when DocSyncExport or DocSyncSource is used");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        config->state_dir = ap_runtime_dir_relative(pconf, "docsync");
        config->status_file = config->state_dir + "/status";
        if (config->sync_user.empty()) config->sync_user = kDefaultSyncUser;
        config->drop_privileges = ::geteuid() == 0;
        if (!config->sources.empty() && config->drop_privileges) {
            std::string error;
            if (!resolve_sync_user(config->sync_user, config, &error)) {
                ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(10605) "DocSyncUser: %s",
                             error.c_str());
                return HTTP_INTERNAL_SERVER_ERROR;
            }
        }
        if (ap_state_query(AP_SQ_MAIN_STATE) != AP_SQ_MS_CREATE_PRE_CONFIG)
            for (const auto& src : config->sources)
                if (src.url.rfind("http://", 0) == 0)
                    ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                                 "DocSyncSource %s: plain http: answers are authenticated, but "
                                 "anyone on the path can read the synced content (use https)",
                                 src.url.c_str());
        config->httpd_binary = self_executable();
        config->server_root = ap_server_root;
        config->config_file = main_config_file(pconf, s);
        config->defines.clear();
        for (int i = 0; ap_server_config_defines && i < ap_server_config_defines->nelts; ++i)
            config->defines.emplace_back(APR_ARRAY_IDX(ap_server_config_defines, i, const char*));
        int rc = export_post_config(pconf, s, config);
        if (rc != OK) return rc;
        // The httpd children fork from this process: without an export they never use the
        // secret, so it must not be in their memory (the sync processes read the file).
        if (config->exports.empty() && !config->secret.empty()) {
            OPENSSL_cleanse(config->secret.data(), config->secret.size());
            config->secret.clear();
            config->secret.shrink_to_fit();
        }
        return sync_child_post_config(pconf, s, config);
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, APLOGNO(10602) "mod_docsync: %s", e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

int check_config(apr_pool_t*, apr_pool_t*, apr_pool_t*, server_rec* s) {
    try {
        return export_check_config(s, module_config(s));
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "mod_docsync: %s", e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

void child_init(apr_pool_t* pchild, server_rec* s) {
    try {
        export_child_init(pchild, s);
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, APLOGNO(10603) "mod_docsync: %s", e.what());
    }
}

void child_status(server_rec*, pid_t pid, ap_generation_t, int, mpm_child_status state) {
    if (state == MPM_CHILD_EXITED) export_child_exited(pid);
}

int handler(request_rec* r) {
    if (!r->handler) return DECLINED;
    try {
        if (!strcmp(r->handler, "docsync")) return export_handler(r);
        if (!strcmp(r->handler, "docsync-status")) return status_handler(r);
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, APLOGNO(10604) "mod_docsync: %s", e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return DECLINED;
}

void register_hooks(apr_pool_t*) {
    // Last: the MPM has worked out MaxRequestWorkers by then.
    ap_hook_check_config(check_config, nullptr, nullptr, APR_HOOK_LAST);
    ap_hook_post_config(post_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_init(child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_status(child_status, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_handler(handler, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace

ModuleConfig* module_config(server_rec* s) {
    return static_cast<ModuleConfig*>(ap_get_module_config(s->module_config, &docsync_module));
}

}  // namespace docsync

extern "C" {
module AP_MODULE_DECLARE_DATA docsync_module = {SUITE_MODULE_STUFF("mod_docsync.c"),
                                                nullptr,
                                                nullptr,
                                                suite::create_server_config<docsync::ModuleConfig>,
                                                nullptr,
                                                docsync::directives,
                                                docsync::register_hooks,
                                                AP_MODULE_FLAG_NONE};
}
