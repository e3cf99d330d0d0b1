// The sync worker: the unprivileged process that keeps every DocSyncSource directory identical
// to its export. One thread per source runs a SourceFollower (core/source_follower.h: what to
// ask, which answers to believe, when to run a sync round, how long to wait) with libcurl, the
// real clock, the status file and the configtest process this file provides.
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
#include "source_follower.h"
#include "status_report.h"
#include "sync_spec.h"

namespace docsync {
namespace {

constexpr std::chrono::seconds kConfigTestTimeout{60};
constexpr std::chrono::seconds kSwapReplyTimeout{30};
constexpr std::size_t kMaxConfigBytes = 16u << 20;
constexpr std::size_t kMaxCheckOutputBytes = 16 * 1024;
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

// The main config file is the administrator's, reached by whatever path they chose (symlinks
// included): read plainly, bounded. Empty on an error (errno set).
std::optional<std::string> read_config_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    std::string buf;
    char chunk[65536];
    ssize_t n = 0;
    while (fd && (n = ::read(fd.get(), chunk, sizeof chunk)) > 0 && buf.size() <= kMaxConfigBytes)
        buf.append(chunk, static_cast<std::size_t>(n));
    if (fd && n == 0) return buf;
    return std::nullopt;
}

bool write_new_file(const std::string& path, const std::string& text) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    return fd && ::write(fd.get(), text.data(), text.size()) == static_cast<ssize_t>(text.size());
}

// Runs `args` with stdout and stderr into *output (bounded), killed after kConfigTestTimeout;
// true if it exited with status 0.
bool run_check_command(std::vector<std::string> args, std::string* output) {
    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) != 0) {
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
    return pid > 0 && !timed_out && WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

// Validates the configuration as it would be with `staging` in place of the live directory:
// a copy of the main config file with the directory's path replaced, checked by `httpd -t`.
bool config_check(const SyncSpec& spec, const SourceOptions& source, const std::string& staging,
                  std::string* output) {
    std::string main_file = spec.config_file;
    if (main_file.rfind(source.local_dir + "/", 0) == 0)
        main_file = staging + main_file.substr(source.local_dir.size());
    std::optional<std::string> text = read_config_file(main_file);
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
    if (!write_new_file(tmp, rewritten)) {
        *output = "cannot write " + tmp + ": " + errno_text(errno);
        return false;
    }
    std::vector<std::string> args = {
        spec.httpd_binary, "-t", "-d", spec.server_root, "-f", tmp, "-D", kUnprivilegedCheckDefine};
    for (const auto& d : spec.defines) {
        args.push_back("-D");
        args.push_back(d);
    }
    bool ok = run_check_command(std::move(args), output);
    ::unlink(tmp.c_str());
    // The check ran on a temp name; say which directory it was really about.
    for (std::size_t p; (p = output->find(tmp)) != std::string::npos;)
        output->replace(p, tmp.size(), spec.config_file);
    return ok;
}

// The real clock of a source thread.
class SystemFollowerClock final : public FollowerClock {
  public:
    std::chrono::steady_clock::time_point now() const override {
        return std::chrono::steady_clock::now();
    }
    std::int64_t unix_now() const override { return docsync::unix_now(); }
    void sleep_for(std::chrono::steady_clock::duration d) override {
        std::this_thread::sleep_for(d);
    }
};

// One source thread: its decisions are the SourceFollower's (core/source_follower.h); here
// are libcurl, the status file, the log, the configtest process and the helper's swap.
[[noreturn]] void source_loop(const SyncSpec& spec, const std::string& secret, std::size_t index,
                              StatusFile& board, HelperChannel& helper) {
    const SourceOptions& source = spec.sources[index];
    CurlTransport transport(source.url, secret, spec.ca_file,
                            spec.verify_key.empty() ? hmac_answer_verifier(secret)
                                                    : ed25519_answer_verifier(spec.verify_key));
    SystemFollowerClock clock;
    FollowerOptions options;
    options.long_poll = spec.long_poll;
    options.version_state_path = version_state_path_for(source.local_dir);
    options.httpd_binary = spec.httpd_binary;
    SourceFollower follower(
        source, options, transport, clock,
        [&board, index](const std::function<void(SourceStatus&)>& f) { board.update(index, f); },
        [](const char* level, const std::string& line) { process_log(level, "%s", line.c_str()); },
        [&](const std::string& staging, std::string* out) {
            return config_check(spec, source, staging, out);
        },
        [&helper, index](std::string* error) { return helper.swap(index, error); });
    follower.run();
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
