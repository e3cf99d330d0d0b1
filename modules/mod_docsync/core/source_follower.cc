#include "source_follower.h"

#include <algorithm>
#include <utility>

namespace docsync {

SourceFollower::SourceFollower(const SourceOptions& source, FollowerOptions options,
                               FollowerTransport& transport, FollowerClock& clock,
                               UpdateStatus update_status, Log log, ConfigCheck check,
                               StageSwap swap, RunRound run_round)
    : source_(source),
      options_(std::move(options)),
      transport_(transport),
      clock_(clock),
      update_status_(std::move(update_status)),
      log_(std::move(log)),
      check_(std::move(check)),
      swap_(std::move(swap)),
      run_round_(std::move(run_round)),
      versions_(options_.version_state_path, source.url),
      stale_since_(clock.now()),
      last_full_round_(clock.now()) {
    std::string error;
    if (!versions_.load(&error))
        log_("warn", source_.url + ": " + error + "; accepting any version once");
}

FollowStep SourceFollower::step() {
    const auto asked = clock_.now();
    const std::chrono::seconds wait =
        retry_ ? std::min<std::chrono::seconds>(options_.long_poll, kMinBackoff)
               : options_.long_poll;
    ManifestResponse resp = transport_.get_manifest(have_ ? etag_ : "", wait);
    if (resp.status != 200 && resp.status != 304) return poll_failed(resp);
    note_good_answer(resp);
    if (resp.status == 200) {
        std::int64_t version = 0;
        if (is_stale(resp, &version)) {
            note_stale_answer();
            clock_.sleep_for(kStaleAnswerRetry);
            return FollowStep::kStaleAnswer;
        }
        std::string problem = take_manifest(resp, version);
        if (!problem.empty()) return reject_manifest(problem);
    } else if (!retry_) {
        return not_modified(asked);
    } else {
        // A 304 while retrying: the round runs again with the manifest held, at most once per
        // kMinBackoff also against a primary that does not wait.
        pause_until(retry_not_before_);
    }
    if (etag_ == rejected_etag_) {
        retry_ = false;
        return FollowStep::kAlreadyRejected;
    }
    return run_round();
}

FollowStep SourceFollower::poll_failed(const ManifestResponse& resp) {
    const bool new_error = resp.error != last_logged_error_;
    if (new_error) log_("warn", source_.url + ": " + resp.error);
    last_logged_error_ = resp.error;
    update_status_([&](SourceStatus& s) {
        s.last_attempt_unix = clock_.unix_now();
        s.result = resp.auth_failed ? "auth-failed" : "error";
        s.last_error = resp.error;
        if (new_error) note_sync_event(s, s.last_attempt_unix, s.result, 0, 0);
        count_failure(s, s.last_attempt_unix);
        s.bytes_received = transport_.bytes_received();
        s.bytes_sent = transport_.bytes_sent();
    });
    clock_.sleep_for(backoff_);
    backoff_ = std::min(backoff_ * 2, kMaxBackoff);
    return FollowStep::kPollFailed;
}

void SourceFollower::note_good_answer(const ManifestResponse& resp) {
    backoff_ = kMinBackoff;
    update_status_([&](SourceStatus& s) {
        ++s.polls;
        // Not modified since the manifest the copy was built from: still in sync.
        if (resp.status == 304 && have_ && etag_ == applied_etag_)
            mark_in_sync(s, clock_.unix_now());
        s.bytes_received = transport_.bytes_received();
        s.bytes_sent = transport_.bytes_sent();
    });
}

// An httpd child of the primary that has not seen the latest change yet, or a rollback: going
// back to an older manifest would undo changes. A missing version is refused by take_manifest.
bool SourceFollower::is_stale(const ManifestResponse& resp, std::int64_t* version) {
    VersionVerdict verdict = versions_.judge(resp.version, version);
    if (verdict == VersionVerdict::kOlder) return true;
    stale_ = false;
    if (verdict == VersionVerdict::kMissing) *version = 0;
    return false;
}

void SourceFollower::note_stale_answer() {
    auto now = clock_.now();
    if (!stale_) stale_since_ = now;
    stale_ = true;
    if (now - stale_since_ < kStaleAnswerWindow) return;
    stale_since_ = now;  // one line and one status per window, not per answer
    log_("warn", source_.url + ": refusing manifests older than version " +
                     std::to_string(static_cast<long long>(versions_.highest())));
    update_status_([&](SourceStatus& s) {
        s.last_attempt_unix = clock_.unix_now();
        s.result = "stale-version";
        s.last_error = "manifest older than one already applied refused";
        count_failure(s, s.last_attempt_unix);
        note_sync_event(s, s.last_attempt_unix, s.result, 0, 0);
    });
}

// Verifies a 200 answer and makes it the manifest held; the problem if it does not verify.
std::string SourceFollower::take_manifest(ManifestResponse& resp, std::int64_t version) {
    // max-files bounds the parse itself: a bigger announced count stops at line 1.
    ParsedManifest parsed = parse_manifest(resp.body, source_.limits.max_files);
    std::string().swap(resp.body);  // parsed: the text is not needed during the round
    std::string problem = parsed.error;
    Manifest next;
    scope_.reset();
    if (parsed.ok()) {
        if (parsed.is_delta) {
            // On top of what the last complete round applied: the round looks only at the
            // paths the delta names.
            if (have_ && parsed.base_etag == etag_ && etag_ == applied_etag_ && !retry_ &&
                clock_.now() - last_full_round_ < kFullRoundInterval) {
                scope_.emplace();
                scope_->base_entries = remote_.size();
                for (const auto& kv : parsed.entries) scope_->paths.push_back(kv.first);
                scope_->paths.insert(scope_->paths.end(), parsed.removed.begin(),
                                     parsed.removed.end());
            }
            // Moved, not copied (a million entries at most): on any problem below the source
            // starts again from a full manifest.
            next = std::move(remote_);
            if (!have_ || parsed.base_etag != etag_)
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
    if (problem.empty() && !versions_.accept(version, &version_error))
        problem = "cannot record its version: " + version_error;
    if (!problem.empty()) return problem;
    remote_ = std::move(next);
    etag_ = resp.etag;
    have_ = true;
    if (etag_ != applied_etag_)
        update_status_([&](SourceStatus& s) { mark_behind(s, clock_.unix_now()); });
    return "";
}

FollowStep SourceFollower::reject_manifest(const std::string& problem) {
    log_("warn", source_.url + ": rejected manifest: " + problem);
    update_status_([&](SourceStatus& s) {
        s.last_attempt_unix = clock_.unix_now();
        s.result = "error";
        s.last_error = "rejected manifest: " + problem;
        count_failure(s, s.last_attempt_unix);
        note_sync_event(s, s.last_attempt_unix, "error", 0, 0);
    });
    have_ = false;
    etag_.clear();
    clock_.sleep_for(backoff_);
    return FollowStep::kManifestRejected;
}

// Nothing changed during the long poll. A primary that does not wait (DocSyncLongPoll 0 on
// either side) must not turn this into a busy loop.
FollowStep SourceFollower::not_modified(std::chrono::steady_clock::time_point asked) {
    auto elapsed = clock_.now() - asked;
    if (elapsed < kMinPollInterval) clock_.sleep_for(kMinPollInterval - elapsed);
    return FollowStep::kNotModified;
}

void SourceFollower::pause_until(std::chrono::steady_clock::time_point when) {
    auto now = clock_.now();
    if (now < when) clock_.sleep_for(when - now);
}

FollowStep SourceFollower::run_round() {
    auto round_start = clock_.now();
    std::optional<RoundScope> scope = std::move(scope_);
    scope_.reset();  // a round run again (retry) looks at the whole copy
    if (!scope) last_full_round_ = round_start;
    RoundResult round = run_round_ ? run_round_(remote_, cache_)
                                   : sync_round(source_, remote_, cache_, transport_,
                                                source_.restart_graceful ? check_ : ConfigCheck(),
                                                swap_, scope ? &*scope : nullptr);
    auto round_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock_.now() - round_start).count();
    log_round(round, static_cast<long long>(round_ms));
    if (!round.limit_exceeded.empty()) return round_refused(round);
    last_refusal_.clear();
    std::uint64_t now_total = transport_.bytes_received() + transport_.bytes_sent();
    std::uint64_t round_bytes = now_total - bytes_mark_;  // includes the manifest request
    bytes_mark_ = now_total;
    note_round(round, round_bytes);
    if (round.config_rejected || round.complete)
        rejected_etag_ = round.config_rejected ? etag_ : "";
    if (round.complete && !round.config_rejected) applied_etag_ = etag_;
    if (round.restart_needed)
        log_("notice", source_.local_dir + ": new configuration applied from " + source_.url +
                           ", graceful restart");
    retry_ = !round.complete && !round.config_rejected;
    if (retry_) retry_not_before_ = clock_.now() + kMinBackoff;
    return FollowStep::kRound;
}

void SourceFollower::log_round(const RoundResult& round, long long round_ms) {
    if (!round.changed) return;
    const RoundStats& st = round.stats;
    log_("info", source_.local_dir + ": round of " + std::to_string(st.files_fetched) + " files (" +
                     std::to_string(st.files_by_delta) + " by delta, " +
                     std::to_string(st.renamed) + " renamed, " + std::to_string(st.removed) +
                     " removed) in " + std::to_string(round_ms) + " ms");
}

// Nothing was applied. One log line per distinct reason; a limit waits for the next manifest,
// a lack of free space is retried with the same one later.
FollowStep SourceFollower::round_refused(const RoundResult& round) {
    if (round.limit_exceeded != last_refusal_)
        log_("error", source_.local_dir + ": round from " + source_.url +
                          " refused, nothing applied: " + round.limit_exceeded);
    last_refusal_ = round.limit_exceeded;
    update_status_([&](SourceStatus& s) {
        s.last_attempt_unix = clock_.unix_now();
        s.remote_etag = etag_;
        s.result = "refused";
        s.last_error = "nothing applied: " + round.limit_exceeded;
        count_failure(s, s.last_attempt_unix);
        note_sync_event(s, s.last_attempt_unix, s.result, 0, 0);
    });
    retry_ = round.limit_transient;
    if (retry_)
        clock_.sleep_for(kMaxBackoff);
    else
        rejected_etag_ = etag_;
    return FollowStep::kRoundRefused;
}

void SourceFollower::note_round(const RoundResult& round, std::uint64_t round_bytes) {
    if (round.config_rejected) {
        log_("error", source_.local_dir + ": new configuration from " + source_.url +
                          " rejected by " + options_.httpd_binary +
                          " -t, not applied: " + round.check_output);
    } else if (!round.complete) {
        log_("warn", source_.local_dir + ": round incomplete (" +
                         std::to_string(round.errors.size()) +
                         " errors), first: " + (round.errors.empty() ? "?" : round.errors[0]));
    }
    if (!round.refused.empty())
        log_("warn", source_.local_dir + ": refused " + std::to_string(round.refused.size()) +
                         " unsafe symlink(s), first: " + round.refused[0]);
    update_status_([&](SourceStatus& s) {
        s.last_attempt_unix = clock_.unix_now();
        s.remote_etag = etag_;
        ++s.rounds;
        s.last_files = round.stats.files_fetched;
        s.last_bytes = round_bytes;
        s.files_transferred += round.stats.files_fetched;
        s.bytes_received = transport_.bytes_received();
        s.bytes_sent = transport_.bytes_sent();
        s.bytes_saved_by_delta += round.stats.bytes_saved_by_delta;
        note_round_result(s, round);
        if (round.restart_needed) {
            s.restart_pending = true;
            ++s.restarts_triggered;
        }
        note_sync_event(s, s.last_attempt_unix, s.result, round.stats.files_fetched, round_bytes);
    });
}

void SourceFollower::note_round_result(SourceStatus& s, const RoundResult& round) const {
    if (round.config_rejected) {
        s.result = "config-rejected";
        s.last_error = "configuration test failed; running configuration kept";
        s.config_check_output = round.check_output;
        count_failure(s, s.last_attempt_unix);
    } else if (!round.complete) {
        const bool refused = std::any_of(
            round.errors.begin(), round.errors.end(),
            [](const std::string& e) { return e.find(kAuthFailedError) != std::string::npos; });
        s.result = refused ? "auth-failed" : "error";
        s.last_error = round.errors.empty() ? "incomplete" : round.errors[0];
        count_failure(s, s.last_attempt_unix);
    } else {
        s.result = "ok";
        s.last_success_unix = clock_.unix_now();
        mark_in_sync(s, s.last_success_unix);
        s.last_error.clear();
        s.config_check_output.clear();
    }
}

}  // namespace docsync
