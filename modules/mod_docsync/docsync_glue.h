// Declarations shared by the adapter files of mod_docsync (everything here touches httpd).
// The typed configuration the directives fill, and the entry points of each adapter.
#pragma once

// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <http_config.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "long_poll_cap.h"
#include "status_metrics.h"
#include "sync_engine.h"

extern "C" module AP_MODULE_DECLARE_DATA docsync_module;

namespace docsync {

inline constexpr std::chrono::seconds kDefaultLongPoll{25};
inline constexpr std::chrono::seconds kMaxLongPoll{300};
inline constexpr std::chrono::milliseconds kMinRescanInterval{100};

struct ExportConfig {
    std::string name;
    std::string directory;
};

// Server-wide configuration (DocSync* directives are only allowed in the main server).
struct ModuleConfig {
    std::vector<ExportConfig> exports;
    std::vector<SourceOptions> sources;
    std::string secret_file;
    // The workers need the secret only to verify requests to an export: on a secondary-only
    // server post_config wipes it, and the sync processes read the file themselves.
    std::string secret;
    std::string secret_sha256;
    std::chrono::seconds max_skew{60};
    std::chrono::milliseconds rescan_interval{30'000};
    std::chrono::seconds long_poll{kDefaultLongPoll};
    LongPollShare max_long_polls;  // DocSyncExportMaxLongPolls
    unsigned long_poll_cap = 0;    // resolved against MaxRequestWorkers in export_check_config
    std::string ca_file;       // DocSyncCACertificateFile: the only trust anchors for https sources
    std::string signing_key;   // DocSyncSigningKeyFile: raw Ed25519 private key (primary)
    std::string verify_key;    // DocSyncVerifyKeyFile: raw Ed25519 public key (secondary)
    std::string state_dir;     // runtime dir/docsync, the sync worker's; set in post_config
    std::string status_file;   // in state_dir
    std::string httpd_binary;  // for the configtest of restart=graceful sources
    std::string config_file;   // the -f file this server was started with
    std::string server_root;
    std::vector<std::string> defines;  // -D names, passed on to the configtest
    std::string sync_user;  // DocSyncUser (default kDefaultSyncUser), resolved in post_config
    uid_t sync_uid = 0;
    gid_t sync_gid = 0;
    bool drop_privileges = true;  // httpd started as root
};

ModuleConfig* module_config(server_rec* s);

// export_handler.cpp
int export_handler(request_rec* r);
void export_child_init(apr_pool_t* pchild, server_rec* s);
int export_post_config(apr_pool_t* pconf, server_rec* s, ModuleConfig* config);
// After the MPM's: resolves DocSyncExportMaxLongPolls against MaxRequestWorkers (also in -t).
int export_check_config(server_rec* s, ModuleConfig* config);
// This child's exports as the status page's metrics show them.
std::vector<ExportStatus> export_statuses();
// Every child's long polls (long_poll_cap.h); empty on a server without exports.
std::optional<LongPollStats> long_poll_stats();
// In the parent: the MPM reports a child's exit (crashed or not); its long polls stop counting.
void export_child_exited(pid_t pid);

// status_handler.cpp
int status_handler(request_rec* r);

// sync_supervisor.cpp: starts (or keeps, across a graceful restart) the supervised sync process.
int sync_child_post_config(apr_pool_t* pconf, server_rec* s, ModuleConfig* config);

}  // namespace docsync
