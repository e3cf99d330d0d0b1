// What the status page shows per source. The sync child writes it to a file in the runtime
// directory after every round (atomically, by rename); any httpd worker reads and renders it.
// The file format is line based: "source <index>" starts a record, then "<key> <value>" lines
// (values percent-encoded), so a corrupted file can only produce empty fields.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "long_poll_cap.h"

namespace docsync {

struct SourceStatus {
    std::string url;
    std::string local_dir;
    std::int64_t last_attempt_unix = 0;
    std::int64_t last_success_unix = 0;
    std::string result = "pending";  // pending | ok | error | config-rejected | refused (a limit)
    std::string remote_etag;
    std::uint64_t rounds = 0;                // sync rounds (a manifest change was applied)
    std::uint64_t polls = 0;                 // manifest requests, including 304 answers
    std::uint64_t files_transferred = 0;     // cumulative
    std::uint64_t bytes_received = 0;        // cumulative, on the wire (headers included)
    std::uint64_t bytes_sent = 0;            // cumulative: requests, signatures, path lists
    std::uint64_t bytes_saved_by_delta = 0;  // cumulative
    std::uint64_t last_files = 0;
    std::uint64_t last_bytes = 0;  // received + sent by the last round
    bool restart_graceful = false;
    bool restart_pending = false;
    std::uint64_t restarts_triggered = 0;
    // Failed attempts by result, cumulative (count_failure).
    std::uint64_t failures_error = 0;
    std::uint64_t failures_auth_failed = 0;
    std::uint64_t failures_stale_version = 0;
    std::uint64_t failures_refused = 0;
    std::uint64_t failures_config_rejected = 0;
    // Whether the local copy matches the primary: in_sync_unix is the last time it was known to
    // (an applied round, or a "not modified" answer to it), behind_since_unix the time since
    // which it has not been, 0 while it is (mark_in_sync, mark_behind).
    std::int64_t in_sync_unix = 0;
    std::int64_t behind_since_unix = 0;
    std::string last_error;
    std::string config_check_output;
    // The recent rounds and failures, newest last: "unix_time result files bytes" entries
    // separated by ';', at most kMaxSyncEvents (note_sync_event keeps it so).
    std::string events;
};

constexpr std::size_t kMaxSyncEvents = 60;

// Appends an event (a round with its result, or a failure) to s.events, dropping the oldest.
void note_sync_event(SourceStatus& s, std::int64_t unix_time, const std::string& result,
                     std::uint64_t files, std::uint64_t bytes);

// Counts a failed attempt under s.result (error, auth-failed, stale-version, refused,
// config-rejected). Every failure but a stale version (an answer older than the copy) also
// leaves the copy behind the primary.
void count_failure(SourceStatus& s, std::int64_t unix_time);
void mark_behind(SourceStatus& s, std::int64_t unix_time);
void mark_in_sync(SourceStatus& s, std::int64_t unix_time);
// Seconds the copy has been behind the primary at `now_unix`, 0 while in sync.
std::int64_t seconds_behind(const SourceStatus& s, std::int64_t now_unix);

struct SyncEvent {
    std::int64_t unix_time = 0;
    std::string result;
    std::uint64_t files = 0;
    std::uint64_t bytes = 0;
};
// Parses s.events; malformed entries are skipped.
std::vector<SyncEvent> parse_sync_events(const std::string& events);

std::string serialise_status(const std::vector<SourceStatus>& sources, std::int64_t child_pid);
std::vector<SourceStatus> parse_status(const std::string& text, std::int64_t* child_pid);

// `long_polls`: a primary's long polls (long_poll_cap.h), or null on a server without exports.
std::string render_status_json(const std::vector<SourceStatus>& sources, std::int64_t child_pid,
                               bool child_running, const LongPollStats* long_polls = nullptr);
std::string render_status_html(const std::vector<SourceStatus>& sources, std::int64_t child_pid,
                               bool child_running, const LongPollStats* long_polls = nullptr);

std::string html_escape(const std::string& s);

}  // namespace docsync
