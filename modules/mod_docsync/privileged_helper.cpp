// The privileged helper: the root process of docsync. It reads no network data.
//
// Forked from the httpd parent, it (1) creates the synced trees, their staging directories, their
// persistent state directories and the worker's runtime state directory where missing and gives
// them to the sync user, (2) reads the secret file, (3) forks the worker, which drops to the sync
// user for good, and then (4) does only what the worker asks through a socketpair in the fixed
// grammar of privsep_protocol.h: exchange the staging and live directories of a restart=graceful
// source — paths it knows from the configuration, never from the message — and send httpd the
// graceful-restart signal, at most once per kMinRestartInterval. A message outside the grammar
// means the worker is not behaving: the helper logs it once and exits, taking the worker with it;
// the supervisor restarts both.
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "../common/child_process.h"
#include "manifest_version.h"
#include "path_policy.h"
#include "privsep_protocol.h"
#include "request_auth.h"
#include "safe_fs.h"
#include "sync_spec.h"

namespace docsync {
namespace {

constexpr std::chrono::seconds kMinRestartInterval{2};
constexpr int kPollMs = 100;

[[noreturn]] void die(pid_t worker) {
    if (worker > 0) {
        ::kill(worker, SIGTERM);
        ::waitpid(worker, nullptr, 0);
    }
    _exit(1);
}

std::string parent_path(const std::string& dir) {
    std::string p = parent_of(dir);
    return p.empty() ? "/" : p;
}

// Creates `dir` (mode `mode`) if missing and gives the tree to the sync user. Counts into
// `changed`; false (logged) if it cannot be made the sync user's.
bool prepare_tree(const SyncSpec& spec, const std::string& dir, mode_t mode,
                  const std::vector<std::string>& excludes, std::size_t* changed) {
    if (::mkdir(dir.c_str(), mode) != 0 && errno != EEXIST) {
        process_log("error", "cannot create %s: %s", dir.c_str(), errno_text(errno).c_str());
        return false;
    }
    if (!spec.drop_privileges) return true;
    // The administrator configured the path (symlinks to it included); beneath it, nothing is
    // followed.
    UniqueFd fd = open_root(dir);
    if (!fd) {
        process_log("error", "cannot open %s: %s", dir.c_str(), errno_text(errno).c_str());
        return false;
    }
    // Excluded paths are neither fetched nor deleted: they stay whose they are.
    auto excluded = [&](const std::string& rel) {
        for (const auto& g : excludes)
            if (glob_excludes(g, rel)) return true;
        return false;
    };
    OwnershipChange c = give_tree_to(fd.get(), spec.uid, spec.gid, excluded);
    if (!c.ok) {
        process_log("error", "cannot give %s to %s: %s", dir.c_str(), spec.user.c_str(),
                    c.error.c_str());
        return false;
    }
    if (c.skipped)
        process_log("warn", "%s: %zu hard-linked file(s) left owned as they were", dir.c_str(),
                    c.skipped);
    *changed += c.changed;
    return true;
}

bool prepare_all(const SyncSpec& spec) {
    std::size_t changed = 0;
    std::size_t trees = 0;  // prepared
    bool ok = true;
    auto prepare = [&](const std::string& dir, mode_t mode,
                       const std::vector<std::string>& excludes) {
        if (prepare_tree(spec, dir, mode, excludes, &changed))
            ++trees;
        else
            ok = false;
    };
    prepare(spec.state_dir, 0755, {});
    for (const auto& s : spec.sources) {
        prepare(s.local_dir, 0755, s.excludes);
        // The staging dir holds copies the worker made (or an old live tree): all its own.
        if (s.restart_graceful) prepare(staging_dir_for(s.local_dir), 0700, {});
        // Its persistent state (the manifest version that refuses rollbacks): beside the tree,
        // in a parent the worker cannot write, and not on the runtime tmpfs.
        prepare(source_state_dir_for(s.local_dir), 0700, {});
    }
    if (spec.drop_privileges)
        process_log("notice",
                    "sync worker runs as %s (uid %d, gid %d) without capabilities; %zu tree(s) "
                    "are its own (synced, staging, per-source state, %s; %zu entries changed owner "
                    "now)",
                    spec.user.c_str(), static_cast<int>(spec.uid), static_cast<int>(spec.gid),
                    trees, spec.state_dir.c_str(), changed);
    else
        process_log("notice", "httpd was not started as root: the sync worker keeps uid %d",
                    static_cast<int>(::getuid()));
    return ok;
}

// Exchanges staging and live of source `index`; 0 or the errno of the failed step.
int swap_source(const SyncSpec& spec, std::size_t index) {
    const SourceOptions& s = spec.sources[index];
    UniqueFd parent = open_root(parent_path(s.local_dir));
    if (!parent) return errno ? errno : EIO;
    const std::string live(base_name(s.local_dir));
    const std::string stage(base_name(staging_dir_for(s.local_dir)));
    struct stat st_live, st_stage;
    if (::fstatat(parent.get(), live.c_str(), &st_live, AT_SYMLINK_NOFOLLOW) != 0 ||
        ::fstatat(parent.get(), stage.c_str(), &st_stage, AT_SYMLINK_NOFOLLOW) != 0)
        return errno;
    // Both must be real directories, and the staging one the worker's own (it is what the worker
    // filled; anything else there was not put by it).
    if (!S_ISDIR(st_live.st_mode) || !S_ISDIR(st_stage.st_mode)) return ENOTDIR;
    if (spec.drop_privileges && st_stage.st_uid != spec.uid) return EPERM;
    if (::renameat2(parent.get(), stage.c_str(), parent.get(), live.c_str(), RENAME_EXCHANGE) != 0)
        return errno;
    // The exchange itself must survive a power loss too.
    ::fsync(parent.get());
    return 0;
}

void send_reply(int fd, const HelperReply& r) {
    std::string m = format_helper_reply(r);
    // A full socket means the worker stopped reading; it loses the reply, not the helper its
    // liveness.
    ::send(fd, m.data(), m.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
}

// Swaps as the worker asked and answers it; true if the swap was done.
bool answer_swap_request(const SyncSpec& spec, int channel, const SwapRequest& req) {
    int err = swap_source(spec, req.source_index);
    if (err == 0) {
        send_reply(channel, HelperReply{HelperReplyKind::kSwapped, req.generation, 0});
        return true;
    }
    process_log("error", "%s: swap with its staging directory failed: %s",
                spec.sources[req.source_index].local_dir.c_str(), errno_text(err).c_str());
    send_reply(channel, HelperReply{HelperReplyKind::kRefused, req.generation, err});
    return false;
}

// The helper's life once the worker runs: watch httpd and the worker, answer swap requests
// in the fixed grammar, and ask httpd for a graceful restart (at most one per
// kMinRestartInterval) after a swap.
[[noreturn]] void serve_worker(const SyncSpec& spec, pid_t httpd_parent, pid_t worker,
                               int channel) {
    std::vector<bool> graceful;
    for (const auto& s : spec.sources) graceful.push_back(s.restart_graceful);
    std::uint64_t last_generation = 0;
    bool restart_due = false;
    auto last_restart = std::chrono::steady_clock::now() - kMinRestartInterval;
    for (;;) {
        if (::getppid() != httpd_parent) die(worker);
        int status = 0;
        if (::waitpid(worker, &status, WNOHANG) == worker) {
            process_log("warn", "sync worker %d ended (%s %d)", static_cast<int>(worker),
                        WIFSIGNALED(status) ? "signal" : "status",
                        WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status));
            _exit(1);  // the supervisor in httpd starts both again
        }
        if (restart_due && std::chrono::steady_clock::now() - last_restart >= kMinRestartInterval) {
            restart_due = false;
            last_restart = std::chrono::steady_clock::now();
            // SIGUSR1 is httpd's graceful restart; the new generation keeps these processes.
            ::kill(httpd_parent, SIGUSR1);
            send_reply(channel, HelperReply{HelperReplyKind::kRestarted, 0, 0});
        }
        pollfd p{channel, POLLIN, 0};
        if (::poll(&p, 1, kPollMs) <= 0) continue;
        char buf[kMaxPrivsepMessageBytes + 1];
        ssize_t n = ::recv(channel, buf, sizeof buf, MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        if (n <= 0) {
            // The worker closed its end: it is ending; the waitpid above reports it.
            ::waitpid(worker, &status, 0);
            process_log("warn", "sync worker %d closed its channel", static_cast<int>(worker));
            _exit(1);
        }
        const std::size_t length = n > 0 ? static_cast<std::size_t>(n) : 0;
        SwapDecision d =
            decide_swap(std::string_view(buf, std::min(length, kMaxPrivsepMessageBytes)), length,
                        graceful, last_generation);
        if (!d.request) {
            process_log("error",
                        "sync worker %d sent a message outside the protocol (%s, %zu bytes); "
                        "ending it",
                        static_cast<int>(worker), d.refusal, length);
            die(worker);
        }
        last_generation = d.request->generation;
        if (answer_swap_request(spec, channel, *d.request)) restart_due = true;
    }
}

}  // namespace

[[noreturn]] void run_sync_process(SyncSpec spec, pid_t httpd_parent) {
    // Undo what httpd's parent set up: its signal handlers and mask belong to the MPM.
    suite::reset_signals();
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != httpd_parent) _exit(0);
    // Listening sockets and other descriptors of the parent are not ours to hold.
    ::closefrom(3);
    ::prctl(PR_SET_NAME, "docsync-priv");
    // A tree that cannot be prepared is logged; its source then fails in the worker and shows
    // on the status page, while the other sources go on.
    prepare_all(spec);
    std::string error;
    std::string secret = load_secret_file(spec.secret_file, &error);
    if (secret.empty()) {
        process_log("error", "DocSyncSecretFile: %s", error.c_str());
        _exit(1);
    }
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) != 0) {
        process_log("error", "socketpair: %s", errno_text(errno).c_str());
        _exit(1);
    }
    const pid_t helper = ::getpid();
    pid_t worker = ::fork();
    if (worker < 0) {
        process_log("error", "cannot fork the sync worker: %s", errno_text(errno).c_str());
        _exit(1);
    }
    if (worker == 0) {
        ::close(sv[0]);
        run_sync_worker(spec, std::move(secret), sv[1], helper);
    }
    ::close(sv[1]);
    UniqueFd channel(sv[0]);
    // The helper needs the secret no longer: only the worker signs requests.
    OPENSSL_cleanse(secret.data(), secret.size());
    secret.clear();
    serve_worker(spec, httpd_parent, worker, channel.get());
}

}  // namespace docsync
