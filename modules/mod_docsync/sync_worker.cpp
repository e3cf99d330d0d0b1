// The sync worker: the unprivileged process that keeps every DocSyncSource directory identical
// to its export. One thread per source long-polls the export's manifest and runs a sync round
// (core/sync_engine.h) when it changes.
//
// It runs as DocSyncUser with no capabilities and no_new_privs (core/privilege_drop.h), set up
// before it reads anything from the network; it can write only the trees the privileged helper
// gave it (the synced trees, their staging directories and its state directory). The configtest
// of a restart=graceful source runs as this user too; the swap and the graceful restart are
// asked of the helper (privileged_helper.cpp) in the fixed grammar of core/privsep_protocol.h.
#include <curl/curl.h>
#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "../common/child_process.h"
#include "answer_auth.h"
#include "crypto.h"
#include "curl_transport.h"
#include "manifest_version.h"
#include "path_policy.h"
#include "privilege_drop.h"
#include "privsep_protocol.h"
#include "safe_fs.h"
#include "status_report.h"
#include "sync_spec.h"

namespace docsync {
namespace {

constexpr std::chrono::seconds kMinBackoff{1};
constexpr std::chrono::seconds kMaxBackoff{30};
constexpr std::chrono::seconds kConfigTestTimeout{60};
constexpr std::chrono::seconds kSwapReplyTimeout{30};
constexpr std::size_t kMaxConfigBytes = 16u << 20;
constexpr std::size_t kMaxCheckOutputBytes = 16 * 1024;
// An answer older than the manifest we hold comes from a primary child that lags behind (or is
// a rollback): it is never applied; past this long, the status page says so.
constexpr std::chrono::seconds kStaleAnswerWindow{60};
constexpr std::chrono::milliseconds kStaleAnswerRetry{100};
constexpr std::chrono::milliseconds kMinPollInterval{1000};
// A round for a delta on top of the last complete round looks only at the paths it names
// (sync_engine.h RoundScope); at least this often a round scans the whole local tree again.
constexpr std::chrono::seconds kFullRoundInterval{60};
constexpr int kPollMs = 100;

std::int64_t unix_now() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

// The sync status every source reports into, rewritten atomically to the status file the status
// handler reads (not HA's shared-memory StatusBoard).
class StatusFile {
  public:
    StatusFile(const SyncSpec& spec) : path_(spec.status_file) {
        for (const auto& s : spec.sources) {
            SourceStatus st;
            st.url = s.url;
            st.local_dir = s.local_dir;
            st.restart_graceful = s.restart_graceful;
            st.behind_since_unix = unix_now();  // nothing known to match the primary yet
            sources_.push_back(st);
        }
    }
    template <class F>
    void update(std::size_t i, F f) {
        std::lock_guard<std::mutex> lock(mutex_);
        f(sources_[i]);
        write_locked();
    }

  private:
    void write_locked() {
        std::string text = serialise_status(sources_, getpid());
        std::string tmp = path_ + ".tmp." + std::to_string(getpid());
        ::unlink(tmp.c_str());  // a leftover of a killed writer
        UniqueFd fd(
            ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0644));
        if (!fd) return;
        bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
        ::fchmod(fd.get(), 0644);  // the fd just created: readable by the httpd children
        fd.reset();
        if (ok)
            ::rename(tmp.c_str(), path_.c_str());
        else
            ::unlink(tmp.c_str());
    }
    std::string path_;
    std::mutex mutex_;
    std::vector<SourceStatus> sources_;
};

// The worker's end of the socketpair to the privileged helper. Source threads ask for swaps;
// the main thread reads the replies and hands each to the thread waiting for its generation.
class HelperChannel {
  public:
    HelperChannel(int fd, StatusFile& board, std::size_t sources)
        : fd_(fd), board_(board), sources_(sources) {}

    // Asks the helper to exchange staging and live of source `index`; true once it has.
    bool swap(std::size_t index, std::string* error) {
        // One request at a time (the helper is serial anyway): a reply is for the newest
        // generation or for none still waited for.
        std::lock_guard<std::mutex> one_at_a_time(swap_mutex_);
        std::unique_lock<std::mutex> lock(mutex_);
        const std::uint64_t generation = ++generation_;
        std::string m = format_swap_request(SwapRequest{index, generation});
        if (::send(fd_, m.data(), m.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(m.size())) {
            *error = "cannot reach the privileged helper: " + errno_text(errno);
            return false;
        }
        bool answered = replied_.wait_for(lock, kSwapReplyTimeout,
                                          [&] { return replies_.count(generation) > 0; });
        if (!answered) {
            *error = "no answer from the privileged helper";
            return false;
        }
        HelperReply r = replies_[generation];
        replies_.erase(generation);
        if (r.kind == HelperReplyKind::kSwapped) return true;
        *error = "refused by the privileged helper: " + errno_text(r.error);
        return false;
    }

    // Runs on the main thread: false once the helper is gone.
    bool read_replies(int timeout_ms) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) return true;
        char buf[kMaxPrivsepMessageBytes + 1];
        ssize_t n = ::recv(fd_, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0) return errno == EAGAIN || errno == EINTR;
        if (n == 0) return false;
        auto r = parse_helper_reply(std::string_view(buf, static_cast<std::size_t>(n)));
        if (!r) return true;
        if (r->kind == HelperReplyKind::kRestarted) {
            for (std::size_t i = 0; i < sources_; ++i)
                board_.update(i, [](SourceStatus& s) { s.restart_pending = false; });
            return true;
        }
        std::lock_guard<std::mutex> lock(mutex_);
        if (r->generation == generation_) {
            replies_[r->generation] = *r;
            replied_.notify_all();
        }
        return true;
    }

  private:
    int fd_;
    StatusFile& board_;
    std::size_t sources_;
    std::mutex swap_mutex_;
    std::mutex mutex_;  // generation_, replies_
    std::condition_variable replied_;
    std::uint64_t generation_ = 0;
    std::map<std::uint64_t, HelperReply> replies_;
};

// A directory of the worker's own, for the configtest's copy of the main config file.
class PrivateDir {
  public:
    explicit PrivateDir(const std::string& parent) {
        std::string tmpl = parent + "/configtest-XXXXXX";
        if (::mkdtemp(tmpl.data())) path_ = tmpl;  // mode 0700
    }
    ~PrivateDir() {
        if (!path_.empty()) {
            UniqueFd fd = open_root(path_);
            if (fd) clear_dir(fd.get());
            ::rmdir(path_.c_str());
        }
    }
    PrivateDir(const PrivateDir&) = delete;
    PrivateDir& operator=(const PrivateDir&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

// Validates the configuration as it would be with `staging` in place of the live directory:
// a copy of the main config file with the directory's path replaced, checked by `httpd -t`.
bool config_check(const SyncSpec& spec, const SourceOptions& source, const std::string& staging,
                  std::string* output) {
    std::string main_file = spec.config_file;
    if (main_file.rfind(source.local_dir + "/", 0) == 0)
        main_file = staging + main_file.substr(source.local_dir.size());
    // The main config file is the administrator's, reached by whatever path they chose
    // (symlinks included): read it plainly, bounded.
    std::optional<std::string> text;
    {
        UniqueFd fd(::open(main_file.c_str(), O_RDONLY | O_CLOEXEC));
        std::string buf;
        char chunk[65536];
        ssize_t n = 0;
        while (fd && (n = ::read(fd.get(), chunk, sizeof chunk)) > 0 &&
               buf.size() <= kMaxConfigBytes)
            buf.append(chunk, static_cast<std::size_t>(n));
        if (fd && n == 0) text = std::move(buf);
    }
    if (!text) {
        *output = "cannot read " + main_file + ": " + errno_text(errno);
        return false;
    }
    std::string rewritten = replace_dir_path(*text, source.local_dir, staging);
    // Relative paths in the config are relative to the ServerRoot (-d), not to the file: the copy
    // can live in a directory of the worker's own, where nobody else can create or link a name.
    PrivateDir dir(spec.state_dir);
    if (dir.path().empty()) {
        *output = "cannot create a directory in " + spec.state_dir + ": " + errno_text(errno);
        return false;
    }
    std::string tmp = dir.path() + "/" + std::string(base_name(spec.config_file));
    {
        UniqueFd fd(
            ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd || ::write(fd.get(), rewritten.data(), rewritten.size()) !=
                       static_cast<ssize_t>(rewritten.size())) {
            *output = "cannot write " + tmp + ": " + errno_text(errno);
            return false;
        }
    }
    std::vector<std::string> args = {
        spec.httpd_binary, "-t", "-d", spec.server_root, "-f", tmp, "-D", kUnprivilegedCheckDefine};
    for (const auto& d : spec.defines) {
        args.push_back("-D");
        args.push_back(d);
    }
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
        ::unlink(tmp.c_str());
        *output = "pipe: " + errno_text(errno);
        return false;
    }
    pid_t pid = ::fork();
    if (pid == 0) {
        ::dup2(pipefd[1], 1);
        ::dup2(pipefd[1], 2);
        std::vector<char*> argv;
        for (auto& a : args) argv.push_back(a.data());
        argv.push_back(nullptr);
        ::execv(argv[0], argv.data());
        _exit(127);
    }
    ::close(pipefd[1]);
    UniqueFd out(pipefd[0]);
    auto deadline = std::chrono::steady_clock::now() + kConfigTestTimeout;
    char buf[4096];
    bool timed_out = false;
    while (pid > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd p{out.get(), POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) continue;
        ssize_t n = ::read(out.get(), buf, sizeof buf);
        if (n <= 0) break;
        if (output->size() < kMaxCheckOutputBytes) output->append(buf, static_cast<std::size_t>(n));
    }
    if (timed_out && pid > 0) ::kill(pid, SIGKILL);
    int status = 0;
    if (pid > 0) ::waitpid(pid, &status, 0);
    ::unlink(tmp.c_str());
    // The check ran on a temp name; say which directory it was really about.
    for (std::size_t p; (p = output->find(tmp)) != std::string::npos;)
        output->replace(p, tmp.size(), spec.config_file);
    return pid > 0 && !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void source_loop(const SyncSpec& spec, const std::string& secret, std::size_t index,
                 StatusFile& board, HelperChannel& helper) {
    const SourceOptions& source = spec.sources[index];
    CurlTransport transport(source.url, secret, spec.ca_file,
                            spec.verify_key.empty() ? hmac_answer_verifier(secret)
                                                    : ed25519_answer_verifier(spec.verify_key));
    VersionStore versions(version_state_path_for(source.local_dir), source.url);
    {
        std::string error;
        if (!versions.load(&error))
            process_log("warn", "%s: %s; accepting any version once", source.url.c_str(),
                        error.c_str());
    }
    bool stale = false;  // answers older than the highest version are being refused
    auto stale_since = std::chrono::steady_clock::now();
    HashCache cache;
    Manifest remote;
    std::string etag, rejected_etag;
    std::string applied_etag;  // the manifest the local copy matches, after a complete round
    bool have = false, retry = false;
    std::chrono::seconds backoff = kMinBackoff;
    std::uint64_t bytes_mark = 0;
    std::string last_logged_error;
    std::string last_refusal;  // the limit the last round was refused for
    auto last_full_round = std::chrono::steady_clock::now();
    for (;;) {
        std::optional<RoundScope> scope;
        const auto asked = std::chrono::steady_clock::now();
        ManifestResponse resp = transport.get_manifest(
            have ? etag : "", retry ? std::chrono::seconds(0) : spec.long_poll);
        if (resp.status != 200 && resp.status != 304) {
            const bool new_error = resp.error != last_logged_error;
            if (new_error) process_log("warn", "%s: %s", source.url.c_str(), resp.error.c_str());
            last_logged_error = resp.error;
            board.update(index, [&](SourceStatus& s) {
                s.last_attempt_unix = unix_now();
                s.result = resp.auth_failed ? "auth-failed" : "error";
                s.last_error = resp.error;
                if (new_error) note_sync_event(s, s.last_attempt_unix, s.result, 0, 0);
                count_failure(s, s.last_attempt_unix);
                s.bytes_received = transport.bytes_received();
                s.bytes_sent = transport.bytes_sent();
            });
            std::this_thread::sleep_for(backoff);
            backoff = std::min(backoff * 2, kMaxBackoff);
            continue;
        }
        backoff = kMinBackoff;
        board.update(index, [&](SourceStatus& s) {
            ++s.polls;
            // Not modified since the manifest the copy was built from: still in sync.
            if (resp.status == 304 && have && etag == applied_etag) mark_in_sync(s, unix_now());
            s.bytes_received = transport.bytes_received();
            s.bytes_sent = transport.bytes_sent();
        });
        std::int64_t version = 0;
        if (resp.status == 200) {
            VersionVerdict verdict = versions.judge(resp.version, &version);
            if (verdict == VersionVerdict::kOlder) {
                // An httpd child of the primary that has not seen the latest change yet, or a
                // rollback: going back to an older manifest would undo changes. Ask again.
                auto now = std::chrono::steady_clock::now();
                if (!stale) stale_since = now;
                stale = true;
                if (now - stale_since >= kStaleAnswerWindow) {
                    stale_since = now;  // one line and one status per window, not per answer
                    process_log("warn", "%s: refusing manifests older than version %lld",
                                source.url.c_str(), static_cast<long long>(versions.highest()));
                    board.update(index, [&](SourceStatus& s) {
                        s.last_attempt_unix = unix_now();
                        s.result = "stale-version";
                        s.last_error = "manifest older than one already applied refused";
                        count_failure(s, s.last_attempt_unix);
                        note_sync_event(s, s.last_attempt_unix, s.result, 0, 0);
                    });
                }
                std::this_thread::sleep_for(kStaleAnswerRetry);
                continue;
            }
            stale = false;
            if (verdict == VersionVerdict::kMissing) version = 0;  // refused below
        }
        if (resp.status == 200) {
            // max-files bounds the parse itself: a bigger announced count stops at line 1.
            ParsedManifest parsed = parse_manifest(resp.body, source.limits.max_files);
            std::string().swap(resp.body);  // parsed: the text is not needed during the round
            std::string problem = parsed.error;
            Manifest next;
            if (parsed.ok()) {
                if (parsed.is_delta) {
                    // On top of what the last complete round applied: the round looks only at
                    // the paths the delta names.
                    if (have && parsed.base_etag == etag && etag == applied_etag && !retry &&
                        std::chrono::steady_clock::now() - last_full_round < kFullRoundInterval) {
                        scope.emplace();
                        scope->base_entries = remote.size();
                        for (const auto& kv : parsed.entries) scope->paths.push_back(kv.first);
                        scope->paths.insert(scope->paths.end(), parsed.removed.begin(),
                                            parsed.removed.end());
                    }
                    // Moved, not copied (a million entries at most): on any problem below the
                    // source starts again from a full manifest.
                    next = std::move(remote);
                    if (!have || parsed.base_etag != etag)
                        problem = "delta against an unknown base";
                    else if (!apply_changes(next, parsed, &problem))
                        problem = "delta: " + problem;
                } else {
                    next = std::move(parsed.entries);
                }
            }
            if (problem.empty() && manifest_etag(next) != resp.etag)
                problem = "manifest does not match its ETag";
            if (problem.empty() && version == 0) problem = "answer without a manifest version";
            std::string version_error;
            if (problem.empty() && !versions.accept(version, &version_error))
                problem = "cannot record its version: " + version_error;
            if (!problem.empty()) {
                process_log("warn", "%s: rejected manifest: %s", source.url.c_str(),
                            problem.c_str());
                board.update(index, [&](SourceStatus& s) {
                    s.last_attempt_unix = unix_now();
                    s.result = "error";
                    s.last_error = "rejected manifest: " + problem;
                    count_failure(s, s.last_attempt_unix);
                    note_sync_event(s, s.last_attempt_unix, "error", 0, 0);
                });
                have = false;
                etag.clear();
                std::this_thread::sleep_for(backoff);
                continue;
            }
            remote = std::move(next);
            etag = resp.etag;
            have = true;
            if (etag != applied_etag)
                board.update(index, [&](SourceStatus& s) { mark_behind(s, unix_now()); });
        } else if (!retry) {
            // 304: nothing changed during the long poll. A primary that does not wait
            // (DocSyncLongPoll 0 on either side) must not turn this into a busy loop.
            auto elapsed = std::chrono::steady_clock::now() - asked;
            if (elapsed < kMinPollInterval) std::this_thread::sleep_for(kMinPollInterval - elapsed);
            continue;
        }
        if (etag == rejected_etag) {
            retry = false;
            continue;
        }
        ConfigCheck check;
        if (source.restart_graceful)
            check = [&](const std::string& staging, std::string* out) {
                return config_check(spec, source, staging, out);
            };
        auto round_start = std::chrono::steady_clock::now();
        StageSwap swap = [&](std::string* error) { return helper.swap(index, error); };
        if (!scope) last_full_round = round_start;
        RoundResult round =
            sync_round(source, remote, cache, transport, check, swap, scope ? &*scope : nullptr);
        auto round_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - round_start)
                            .count();
        if (round.changed)
            process_log("info",
                        "%s: round of %zu files (%zu by delta, %zu renamed, %zu removed) in "
                        "%lld ms",
                        source.local_dir.c_str(), round.stats.files_fetched,
                        round.stats.files_by_delta, round.stats.renamed, round.stats.removed,
                        static_cast<long long>(round_ms));
        if (!round.limit_exceeded.empty()) {
            // Nothing was applied. One log line per distinct reason; a limit waits for the
            // next manifest, a lack of free space is retried with the same one later.
            if (round.limit_exceeded != last_refusal)
                process_log("error", "%s: round from %s refused, nothing applied: %s",
                            source.local_dir.c_str(), source.url.c_str(),
                            round.limit_exceeded.c_str());
            last_refusal = round.limit_exceeded;
            board.update(index, [&](SourceStatus& s) {
                s.last_attempt_unix = unix_now();
                s.remote_etag = etag;
                s.result = "refused";
                s.last_error = "nothing applied: " + round.limit_exceeded;
                count_failure(s, s.last_attempt_unix);
                note_sync_event(s, s.last_attempt_unix, s.result, 0, 0);
            });
            retry = round.limit_transient;
            if (retry)
                std::this_thread::sleep_for(kMaxBackoff);
            else
                rejected_etag = etag;
            continue;
        }
        last_refusal.clear();
        std::uint64_t now_bytes = transport.bytes_received();
        std::uint64_t now_total = now_bytes + transport.bytes_sent();
        std::uint64_t round_bytes = now_total - bytes_mark;  // includes the manifest request
        bytes_mark = now_total;
        if (round.config_rejected) {
            rejected_etag = etag;
            process_log("error", "%s: new configuration from %s rejected by %s -t, not applied: %s",
                        source.local_dir.c_str(), source.url.c_str(), spec.httpd_binary.c_str(),
                        round.check_output.c_str());
        } else if (!round.complete) {
            process_log("warn", "%s: round incomplete (%zu errors), first: %s",
                        source.local_dir.c_str(), round.errors.size(),
                        round.errors.empty() ? "?" : round.errors[0].c_str());
        }
        if (!round.refused.empty())
            process_log("warn", "%s: refused %zu unsafe symlink(s), first: %s",
                        source.local_dir.c_str(), round.refused.size(), round.refused[0].c_str());
        board.update(index, [&](SourceStatus& s) {
            s.last_attempt_unix = unix_now();
            s.remote_etag = etag;
            ++s.rounds;
            s.last_files = round.stats.files_fetched;
            s.last_bytes = round_bytes;
            s.files_transferred += round.stats.files_fetched;
            s.bytes_received = now_bytes;
            s.bytes_sent = transport.bytes_sent();
            s.bytes_saved_by_delta += round.stats.bytes_saved_by_delta;
            if (round.config_rejected) {
                s.result = "config-rejected";
                s.last_error = "configuration test failed; running configuration kept";
                s.config_check_output = round.check_output;
                count_failure(s, s.last_attempt_unix);
            } else if (!round.complete) {
                const bool refused =
                    std::any_of(round.errors.begin(), round.errors.end(), [](const std::string& e) {
                        return e.find(kAuthFailedError) != std::string::npos;
                    });
                s.result = refused ? "auth-failed" : "error";
                s.last_error = round.errors.empty() ? "incomplete" : round.errors[0];
                count_failure(s, s.last_attempt_unix);
            } else {
                s.result = "ok";
                s.last_success_unix = unix_now();
                mark_in_sync(s, s.last_success_unix);
                s.last_error.clear();
                s.config_check_output.clear();
            }
            if (round.restart_needed) {
                s.restart_pending = true;
                ++s.restarts_triggered;
            }
            note_sync_event(s, s.last_attempt_unix, s.result, round.stats.files_fetched,
                            round_bytes);
        });
        if (round.config_rejected || round.complete)
            rejected_etag = round.config_rejected ? etag : "";
        if (round.complete && !round.config_rejected) applied_etag = etag;
        if (round.restart_needed) {
            process_log("notice", "%s: new configuration applied from %s, graceful restart",
                        source.local_dir.c_str(), source.url.c_str());
        }
        retry = !round.complete && !round.config_rejected;
        if (retry) std::this_thread::sleep_for(kMinBackoff);
    }
}

}  // namespace

[[noreturn]] void run_sync_worker(const SyncSpec& spec, std::string secret, int helper_fd,
                                  pid_t helper) {
    suite::reset_signals();
    // Before anything is read from the network, and for good.
    if (spec.drop_privileges) {
        std::string error;
        if (!drop_privileges(spec.uid, spec.gid, &error)) {
            process_log("error", "cannot drop to DocSyncUser %s: %s; not syncing",
                        spec.user.c_str(), error.c_str());
            _exit(1);
        }
    }
    // After the uid change, which clears it.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != helper) _exit(0);
    ::prctl(PR_SET_NAME, "docsync-sync");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    process_log("notice", "sync process started for %zu source(s)", spec.sources.size());
    StatusFile board(spec);
    for (std::size_t i = 0; i < spec.sources.size(); ++i) board.update(i, [](SourceStatus&) {});
    HelperChannel channel(helper_fd, board, spec.sources.size());
    std::vector<std::thread> workers;
    for (std::size_t i = 0; i < spec.sources.size(); ++i)
        workers.emplace_back([&spec, &secret, &board, &channel, i] {
            try {
                source_loop(spec, secret, i, board, channel);
            } catch (const std::exception& e) {
                process_log("error", "source %s: %s", spec.sources[i].url.c_str(), e.what());
                _exit(1);  // the helper ends too, and the supervisor restarts both
            }
        });
    for (;;) {
        if (!channel.read_replies(kPollMs) || ::getppid() != helper) _exit(0);
    }
}

}  // namespace docsync
