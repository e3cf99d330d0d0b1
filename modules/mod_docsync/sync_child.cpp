// The sync child: a process forked from the httpd parent that keeps every DocSyncSource
// directory identical to its export. One thread per source long-polls the export's manifest and
// runs a sync round (core/sync_engine.h) when it changes.
//
// Supervision: the parent registers the child as an APR "other child", so the MPM reports its
// death and we restart it (with a limit on quick crash loops). A graceful restart keeps the
// child (its pid and configuration fingerprint live in the process pool, which survives
// generations); a stop or hard restart terminates it, and PR_SET_PDEATHSIG ends it if the
// parent dies without telling anyone.
// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <apr_strings.h>
#include <apr_thread_proc.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cerrno>
#include <cstdarg>
#include <cstdio>
#include <ctime>
#include <mutex>
#include <optional>
#include <thread>

#include "crypto.h"
#include "curl_transport.h"
#include "docsync_glue.h"
#include "path_policy.h"
#include "safe_fs.h"
#include "status_report.h"

APLOG_USE_MODULE(docsync);

namespace docsync {
namespace {

constexpr std::chrono::seconds kMinBackoff{1};
constexpr std::chrono::seconds kMaxBackoff{30};
constexpr std::chrono::seconds kMinRestartInterval{2};
constexpr std::chrono::seconds kQuickDeath{10};
constexpr int kMaxQuickDeaths = 5;
constexpr std::chrono::seconds kConfigTestTimeout{60};
constexpr std::size_t kMaxConfigBytes = 16u << 20;
constexpr std::size_t kMaxCheckOutputBytes = 16 * 1024;
constexpr std::chrono::milliseconds kTerminateGrace{2000};
// An answer scanned earlier than the manifest we hold, by less than this, comes from a primary
// child that lags behind; by more, the clock was stepped and the answer is taken.
constexpr std::chrono::nanoseconds kStaleAnswerWindow = std::chrono::seconds(60);
constexpr std::chrono::milliseconds kStaleAnswerRetry{100};
constexpr std::chrono::milliseconds kMinPollInterval{1000};

// Everything the child needs, copied out of the configuration pool before fork.
struct ChildSpec {
    std::vector<SourceOptions> sources;
    std::string secret;
    std::string ca_file;
    std::chrono::seconds long_poll{kDefaultLongPoll};
    std::string status_file;
    std::string httpd_binary;
    std::string config_file;
    std::string server_root;
    std::vector<std::string> defines;

    std::string fingerprint() const {
        std::string f = sha256_hex(secret) + "|" + ca_file + "|" +
                        std::to_string(long_poll.count()) + "|" + status_file + "|" + config_file;
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

// Lives in the process pool: survives configuration generations.
struct ChildRecord {
    apr_proc_t proc{};
    bool running = false;
    std::string fingerprint;
    ChildSpec spec;
    apr_time_t started = 0;
    int quick_deaths = 0;
    apr_pool_t* pconf = nullptr;  // current generation, for re-registration
    server_rec* server = nullptr;
};

// ---- child side ------------------------------------------------------------------------------

void child_log(const char* level, const char* fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    std::time_t now = std::time(nullptr);
    std::tm tm;
    localtime_r(&now, &tm);
    char ts[64];
    std::strftime(ts, sizeof ts, "%a %b %d %H:%M:%S %Y", &tm);
    // stderr of the httpd parent is its main error log.
    std::fprintf(stderr, "[%s] [docsync:%s] [pid %d] %s\n", ts, level, static_cast<int>(getpid()),
                 msg);
    std::fflush(stderr);
}

std::int64_t unix_now() {
    return static_cast<std::int64_t>(std::time(nullptr));
}

class StatusBoard {
  public:
    StatusBoard(const ChildSpec& spec) : path_(spec.status_file) {
        for (const auto& s : spec.sources) {
            SourceStatus st;
            st.url = s.url;
            st.local_dir = s.local_dir;
            st.restart_graceful = s.restart_graceful;
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
        UniqueFd fd(
            ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644));
        if (!fd) return;
        bool ok = ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
        ::fchmod(fd.get(), 0644);
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

std::atomic<bool> g_restart_requested{false};

// Validates the configuration as it would be with `staging` in place of the live directory:
// a copy of the main config file with the directory's path replaced, checked by `httpd -t`.
bool config_check(const ChildSpec& spec, const SourceOptions& source, const std::string& staging,
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
    std::string dir = parent_of(spec.config_file);
    std::string tmp = dir + "/.docsync-configtest-" + random_hex(6) + ".conf";
    {
        UniqueFd fd(
            ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
        if (!fd || ::write(fd.get(), rewritten.data(), rewritten.size()) !=
                       static_cast<ssize_t>(rewritten.size())) {
            *output = "cannot write " + tmp + ": " + errno_text(errno);
            return false;
        }
    }
    std::vector<std::string> args = {spec.httpd_binary, "-t", "-d", spec.server_root, "-f", tmp};
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

void source_loop(const ChildSpec& spec, std::size_t index, StatusBoard& board) {
    const SourceOptions& source = spec.sources[index];
    CurlTransport transport(source.url, spec.secret, spec.ca_file);
    HashCache cache;
    Manifest remote;
    std::string etag, rejected_etag;
    bool have = false, retry = false;
    std::chrono::seconds backoff = kMinBackoff;
    std::uint64_t bytes_mark = 0;
    std::int64_t remote_scanned = 0;  // scan time of the newest manifest taken
    std::string last_logged_error;
    std::string last_refusal;  // the limit the last round was refused for
    for (;;) {
        const auto asked = std::chrono::steady_clock::now();
        ManifestResponse resp = transport.get_manifest(
            have ? etag : "", retry ? std::chrono::seconds(0) : spec.long_poll);
        if (resp.status != 200 && resp.status != 304) {
            const bool new_error = resp.error != last_logged_error;
            if (new_error) child_log("warn", "%s: %s", source.url.c_str(), resp.error.c_str());
            last_logged_error = resp.error;
            board.update(index, [&](SourceStatus& s) {
                s.last_attempt_unix = unix_now();
                s.result = "error";
                s.last_error = resp.error;
                if (new_error) note_sync_event(s, s.last_attempt_unix, "error", 0, 0);
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
            s.bytes_received = transport.bytes_received();
            s.bytes_sent = transport.bytes_sent();
        });
        if (resp.status == 200 && have && resp.scanned_unix_ns > 0 &&
            resp.scanned_unix_ns < remote_scanned &&
            remote_scanned - resp.scanned_unix_ns < kStaleAnswerWindow.count()) {
            // An httpd child of the primary that has not seen the latest change yet: going back
            // to its older manifest would delete files. Ask again once it has caught up.
            std::this_thread::sleep_for(kStaleAnswerRetry);
            continue;
        }
        if (resp.status == 200) {
            // max-files bounds the parse itself: a bigger announced count stops at line 1.
            ParsedManifest parsed = parse_manifest(resp.body, source.limits.max_files);
            std::string().swap(resp.body);  // parsed: the text is not needed during the round
            std::string problem = parsed.error;
            Manifest next;
            if (parsed.ok()) {
                if (parsed.is_delta) {
                    next = remote;
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
            if (!problem.empty()) {
                child_log("warn", "%s: rejected manifest: %s", source.url.c_str(), problem.c_str());
                board.update(index, [&](SourceStatus& s) {
                    s.last_attempt_unix = unix_now();
                    s.result = "error";
                    s.last_error = "rejected manifest: " + problem;
                    note_sync_event(s, s.last_attempt_unix, "error", 0, 0);
                });
                have = false;
                etag.clear();
                std::this_thread::sleep_for(backoff);
                continue;
            }
            remote = std::move(next);
            etag = resp.etag;
            remote_scanned = std::max(remote_scanned, resp.scanned_unix_ns);
            have = true;
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
        RoundResult round = sync_round(source, remote, cache, transport, check);
        auto round_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                            std::chrono::steady_clock::now() - round_start)
                            .count();
        if (round.changed)
            child_log("info",
                      "%s: round of %zu files (%zu by delta, %zu renamed, %zu removed) in "
                      "%lld ms",
                      source.local_dir.c_str(), round.stats.files_fetched,
                      round.stats.files_by_delta, round.stats.renamed, round.stats.removed,
                      static_cast<long long>(round_ms));
        if (!round.limit_exceeded.empty()) {
            // Nothing was applied. One log line per distinct reason; a limit waits for the
            // next manifest, a lack of free space is retried with the same one later.
            if (round.limit_exceeded != last_refusal)
                child_log("error", "%s: round from %s refused, nothing applied: %s",
                          source.local_dir.c_str(), source.url.c_str(),
                          round.limit_exceeded.c_str());
            last_refusal = round.limit_exceeded;
            board.update(index, [&](SourceStatus& s) {
                s.last_attempt_unix = unix_now();
                s.remote_etag = etag;
                s.result = "refused";
                s.last_error = "nothing applied: " + round.limit_exceeded;
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
            child_log("error", "%s: new configuration from %s rejected by %s -t, not applied: %s",
                      source.local_dir.c_str(), source.url.c_str(), spec.httpd_binary.c_str(),
                      round.check_output.c_str());
        } else if (!round.complete) {
            child_log("warn", "%s: round incomplete (%zu errors), first: %s",
                      source.local_dir.c_str(), round.errors.size(),
                      round.errors.empty() ? "?" : round.errors[0].c_str());
        }
        if (!round.refused.empty())
            child_log("warn", "%s: refused %zu unsafe symlink(s), first: %s",
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
            } else if (!round.complete) {
                s.result = "error";
                s.last_error = round.errors.empty() ? "incomplete" : round.errors[0];
            } else {
                s.result = "ok";
                s.last_success_unix = unix_now();
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
        if (round.restart_needed) {
            child_log("notice", "%s: new configuration applied from %s, graceful restart",
                      source.local_dir.c_str(), source.url.c_str());
            g_restart_requested = true;
        }
        retry = !round.complete && !round.config_rejected;
        if (retry) std::this_thread::sleep_for(kMinBackoff);
    }
}

[[noreturn]] void run_child(const ChildSpec& spec, pid_t parent) {
    // Undo what httpd's parent set up: its signal handlers and mask belong to the MPM.
    for (int sig = 1; sig < NSIG; ++sig)
        if (sig != SIGKILL && sig != SIGSTOP) ::signal(sig, SIG_DFL);
    ::signal(SIGPIPE, SIG_IGN);
    sigset_t all;
    sigemptyset(&all);
    ::sigprocmask(SIG_SETMASK, &all, nullptr);
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) _exit(0);
    // Listening sockets and other descriptors of the parent are not ours to hold.
    ::closefrom(3);
    ::prctl(PR_SET_NAME, "docsync-sync");
    curl_global_init(CURL_GLOBAL_DEFAULT);
    child_log("notice", "sync process started for %zu source(s)", spec.sources.size());
    StatusBoard board(spec);
    for (std::size_t i = 0; i < spec.sources.size(); ++i) board.update(i, [](SourceStatus&) {});
    std::vector<std::thread> workers;
    for (std::size_t i = 0; i < spec.sources.size(); ++i)
        workers.emplace_back([&spec, &board, i] {
            try {
                source_loop(spec, i, board);
            } catch (const std::exception& e) {
                child_log("error", "source %s: %s", spec.sources[i].url.c_str(), e.what());
                _exit(1);  // the parent restarts us
            }
        });
    auto last_restart = std::chrono::steady_clock::now() - kMinRestartInterval;
    for (;;) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        if (::getppid() != parent) _exit(0);
        if (g_restart_requested &&
            std::chrono::steady_clock::now() - last_restart >= kMinRestartInterval) {
            g_restart_requested = false;
            last_restart = std::chrono::steady_clock::now();
            // SIGUSR1 is httpd's graceful restart; the new generation keeps this process.
            ::kill(parent, SIGUSR1);
            for (std::size_t i = 0; i < spec.sources.size(); ++i)
                board.update(i, [](SourceStatus& s) { s.restart_pending = false; });
        }
    }
}

// ---- parent side -----------------------------------------------------------------------------

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
    auto deadline = std::chrono::steady_clock::now() + kTerminateGrace;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::waitpid(rec->proc.pid, nullptr, WNOHANG) != 0) {
            rec->running = false;
            return;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ::kill(rec->proc.pid, SIGKILL);
    ::waitpid(rec->proc.pid, nullptr, 0);
    rec->running = false;
}

bool spawn(ChildRecord* rec) {
    pid_t parent = ::getpid();
    apr_status_t rv = apr_proc_fork(&rec->proc, rec->pconf);
    if (rv == APR_INCHILD) {
        try {
            run_child(rec->spec, parent);
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
    ChildSpec spec;
    spec.sources = config->sources;
    spec.secret = config->secret;
    spec.ca_file = config->ca_file;
    spec.long_poll = config->long_poll;
    spec.status_file = config->status_file;
    spec.httpd_binary = config->httpd_binary;
    spec.config_file = config->config_file;
    spec.server_root = config->server_root;
    spec.defines = config->defines;
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
