// What the sync processes need, copied out of the configuration before fork. No httpd headers:
// the privileged helper and the unprivileged worker run outside httpd's APIs.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

#include "crypto.h"
#include "sync_engine.h"

namespace docsync {

// Passed to the configtest the worker runs as the sync user: config-time checks that need root
// (reading DocSyncSecretFile, HASecretFile) accept what they are not allowed to see; the real
// start checks it. The same name as suite::kUnprivilegedCheckDefine (modules/common), which the
// httpd side of the modules test; this header stays free of httpd headers.
inline constexpr const char* kUnprivilegedCheckDefine = "DocSyncUnprivilegedConfigTest";
inline constexpr const char* kDefaultSyncUser = "docsync";

struct SyncSpec {
    std::vector<SourceOptions> sources;
    std::string secret_file;    // read by the privileged helper, handed to the worker only
    std::string secret_sha256;  // so that a changed secret restarts the processes
    std::string ca_file;
    std::string verify_key;  // raw Ed25519 public key; empty: answers carry the shared-secret MAC
    std::chrono::seconds long_poll{25};
    std::string state_dir;    // runtime dir/docsync: the worker's (status file, configtest copy)
    std::string status_file;  // in state_dir
    std::string httpd_binary;
    std::string config_file;
    std::string server_root;
    std::vector<std::string> defines;
    std::string user;  // DocSyncUser
    uid_t uid = 0;
    gid_t gid = 0;
    bool drop_privileges = true;  // false when httpd itself was not started as root

    std::string fingerprint() const {
        std::string f = secret_sha256 + "|" + secret_file + "|" + sha256_hex(verify_key) + "|" +
                        ca_file + "|" + std::to_string(long_poll.count()) + "|" + status_file +
                        "|" + config_file + "|" + user + ":" + std::to_string(uid) + ":" +
                        std::to_string(gid);
        for (const auto& s : sources) {
            f += "|" + s.url + " " + s.local_dir + (s.delete_extraneous ? " d" : " k") +
                 (s.restart_graceful ? " g" : " n");
            for (const auto& e : s.excludes) f += " x=" + e;
            f += " " + describe(s.limits);
        }
        for (const auto& d : defines) f += "|D" + d;
        return f;
    }
};

// The log of the sync processes: stderr, which the httpd parent points at its main error log.
// One line per call, in httpd's format.
void process_log(const char* level, const char* fmt, ...) __attribute__((format(printf, 2, 3)));

// privileged_helper.cpp: the root process forked from httpd. Prepares the trees, forks the
// worker and then only performs the swaps and graceful restarts the worker asks for.
[[noreturn]] void run_sync_process(SyncSpec spec, pid_t httpd_parent);

// sync_worker.cpp: the unprivileged process that talks to the primaries. `secret` is wiped by
// the caller's copy once forked; `helper_fd` is its socket to the helper.
[[noreturn]] void run_sync_worker(const SyncSpec& spec, std::string secret, int helper_fd,
                                  pid_t helper);

}  // namespace docsync
