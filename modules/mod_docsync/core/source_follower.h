// The secondary's decisions for one source, between sync rounds: what to ask the primary for,
// which answers to believe, when to run a round, what the status page and the log say, and how
// long to wait before asking again. No threads, sockets or processes: the sync worker
// (sync_worker.cpp) runs one SourceFollower per source thread with libcurl and the real clock;
// unit tests drive it with a fake transport and a simulated clock.
//
// One step = one manifest request and what follows from its answer:
// - a failed request (transport error, HTTP error, unauthenticated answer) is retried after a
//   backoff that doubles from kMinBackoff to kMaxBackoff and is reset by any good answer; each
//   distinct error is logged once;
// - an answer older than the highest version already accepted (manifest_version.h) is never
//   applied; it is asked again after kStaleAnswerRetry, and once per kStaleAnswerWindow the log
//   and the status page say so;
// - a delta manifest applies only to the manifest the follower holds (its base ETag); the result,
//   like a full manifest, must match the answer's ETag and carry a version, else it is rejected
//   and the next request asks for a full manifest;
// - "not modified" answers never come faster than kMinPollInterval, even from a primary that
//   does not wait (DocSyncLongPoll 0);
// - a manifest whose configuration failed its check (restart=graceful), or that was over a
//   round limit, is not tried again until the primary announces another one; a round short of
//   free space is retried with the same manifest after kMaxBackoff;
// - after an incomplete round the next manifest request waits up to kMinBackoff for a change:
//   a file the round could not fetch is most often one the primary renamed or removed since its
//   manifest (an editor's or a deploy tool's temp file), and the manifest that says so ends the
//   wait at once; without one the same manifest runs again, not sooner than kMinBackoff after
//   the incomplete round.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "manifest.h"
#include "manifest_version.h"
#include "status_report.h"
#include "sync_engine.h"
#include "tree_scan.h"

namespace docsync {

inline constexpr std::chrono::seconds kMinBackoff{1};
inline constexpr std::chrono::seconds kMaxBackoff{30};
// An answer older than the manifest we hold comes from a primary child that lags behind (or is
// a rollback): it is never applied; past this long, the status page says so.
inline constexpr std::chrono::seconds kStaleAnswerWindow{60};
inline constexpr std::chrono::milliseconds kStaleAnswerRetry{100};
inline constexpr std::chrono::milliseconds kMinPollInterval{1000};
// A round for a delta on top of the manifest the last complete round applied looks only at the
// paths it names (sync_engine.h RoundScope); at least this often a round scans the whole local
// copy again, which corrects local changes to other paths.
inline constexpr std::chrono::seconds kFullRoundInterval{60};

// Start of the error text of an answer that failed its authentication; the status page shows
// such rounds as result "auth-failed".
inline constexpr std::string_view kAuthFailedError = "answer authentication failed";

struct ManifestResponse {
    long status = 0;  // 200, 304, or an error status; 0 on a transport error
    std::string body;
    std::string etag;
    bool is_delta = false;
    std::string version;  // X-DocSync-Scanned as received (authenticated with the answer)
    bool auth_failed = false;
    std::string error;
};

// A round's requests plus the manifest long poll.
class FollowerTransport : public Transport {
  public:
    // The manifest, or "not modified" (304) when it is still `known_etag` after up to `wait`.
    virtual ManifestResponse get_manifest(const std::string& known_etag,
                                          std::chrono::seconds wait) = 0;
};

// Monotonic time for the decisions, wall-clock time for the status page, and waiting.
class FollowerClock {
  public:
    virtual ~FollowerClock() = default;
    virtual std::chrono::steady_clock::time_point now() const = 0;
    virtual std::int64_t unix_now() const = 0;
    virtual void sleep_for(std::chrono::steady_clock::duration d) = 0;
};

struct FollowerOptions {
    std::chrono::seconds long_poll{0};  // DocSyncLongPoll
    std::string version_state_path;     // version_state_path_for(local_dir) in the module
    std::string httpd_binary;           // named in the log when a configuration is rejected
};

// What one step did (for the caller's tests; the worker ignores it).
enum class FollowStep {
    kPollFailed,        // no usable answer; waited out the backoff
    kStaleAnswer,       // an answer older than the accepted version, refused
    kManifestRejected,  // a manifest that did not verify (delta base, ETag, version)
    kNotModified,       // 304, nothing to do
    kAlreadyRejected,   // the manifest a round refused for good, not tried again
    kRoundRefused,      // a round over a limit (or short of space), nothing applied
    kRound,             // a round ran (complete, incomplete or its configuration rejected)
};

class SourceFollower {
  public:
    using UpdateStatus = std::function<void(const std::function<void(SourceStatus&)>&)>;
    using Log = std::function<void(const char* level, const std::string& line)>;
    // A sync round against `remote`; sync_round with the check and swap when empty.
    using RunRound = std::function<RoundResult(const Manifest& remote, HashCache& cache)>;

    // `check` (restart=graceful sources only) and `swap` go to sync_round.
    SourceFollower(const SourceOptions& source, FollowerOptions options,
                   FollowerTransport& transport, FollowerClock& clock, UpdateStatus update_status,
                   Log log, ConfigCheck check = {}, StageSwap swap = {}, RunRound run_round = {});

    FollowStep step();
    [[noreturn]] void run() {
        for (;;) step();
    }

    // For tests: the ETag of the manifest held (empty if none) and of the one last applied.
    const std::string& held_etag() const { return etag_; }
    const std::string& applied_etag() const { return applied_etag_; }
    std::chrono::seconds backoff() const { return backoff_; }

  private:
    FollowStep poll_failed(const ManifestResponse& resp);
    void note_good_answer(const ManifestResponse& resp);
    bool is_stale(const ManifestResponse& resp, std::int64_t* version);
    void note_stale_answer();
    std::string take_manifest(ManifestResponse& resp, std::int64_t version);
    FollowStep reject_manifest(const std::string& problem);
    FollowStep not_modified(std::chrono::steady_clock::time_point asked);
    void pause_until(std::chrono::steady_clock::time_point when);
    FollowStep run_round();
    FollowStep round_refused(const RoundResult& round);
    void log_round(const RoundResult& round, long long round_ms);
    void note_round(const RoundResult& round, std::uint64_t round_bytes);
    void note_round_result(SourceStatus& s, const RoundResult& round) const;

    const SourceOptions& source_;
    FollowerOptions options_;
    FollowerTransport& transport_;
    FollowerClock& clock_;
    UpdateStatus update_status_;
    Log log_;
    ConfigCheck check_;
    StageSwap swap_;
    RunRound run_round_;
    VersionStore versions_;

    bool stale_ = false;  // answers older than the highest version are being refused
    std::chrono::steady_clock::time_point stale_since_;
    HashCache cache_;
    Manifest remote_;
    std::string etag_;           // the manifest held (valid while have_)
    std::string rejected_etag_;  // a manifest a round refused for good
    std::string applied_etag_;   // the manifest the local copy matches, after a complete round
    bool have_ = false;
    bool retry_ = false;  // run a round again with the manifest held
    std::chrono::steady_clock::time_point retry_not_before_;
    std::chrono::seconds backoff_ = kMinBackoff;
    std::uint64_t bytes_mark_ = 0;
    std::string last_logged_error_;
    std::string last_refusal_;  // the limit the last round was refused for
    // For the next round: the paths of a delta on top of the manifest applied last, if any.
    std::optional<RoundScope> scope_;
    std::chrono::steady_clock::time_point last_full_round_;
};

}  // namespace docsync
