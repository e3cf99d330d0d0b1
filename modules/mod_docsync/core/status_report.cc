#include "status_report.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <sstream>

#include "json_string.h"
#include "path_policy.h"
#include "svg_chart.h"

namespace docsync {

namespace {

struct Field {
    const char* key;
    std::string SourceStatus::*text;
    std::int64_t SourceStatus::*i64;
    std::uint64_t SourceStatus::*u64;
    bool SourceStatus::*flag;
};

const Field kFields[] = {
    {"url", &SourceStatus::url, nullptr, nullptr, nullptr},
    {"local_dir", &SourceStatus::local_dir, nullptr, nullptr, nullptr},
    {"last_attempt", nullptr, &SourceStatus::last_attempt_unix, nullptr, nullptr},
    {"last_success", nullptr, &SourceStatus::last_success_unix, nullptr, nullptr},
    {"result", &SourceStatus::result, nullptr, nullptr, nullptr},
    {"remote_etag", &SourceStatus::remote_etag, nullptr, nullptr, nullptr},
    {"rounds", nullptr, nullptr, &SourceStatus::rounds, nullptr},
    {"polls", nullptr, nullptr, &SourceStatus::polls, nullptr},
    {"files_transferred", nullptr, nullptr, &SourceStatus::files_transferred, nullptr},
    {"bytes_received", nullptr, nullptr, &SourceStatus::bytes_received, nullptr},
    {"bytes_sent", nullptr, nullptr, &SourceStatus::bytes_sent, nullptr},
    {"bytes_saved_by_delta", nullptr, nullptr, &SourceStatus::bytes_saved_by_delta, nullptr},
    {"last_files", nullptr, nullptr, &SourceStatus::last_files, nullptr},
    {"last_bytes", nullptr, nullptr, &SourceStatus::last_bytes, nullptr},
    {"restart_graceful", nullptr, nullptr, nullptr, &SourceStatus::restart_graceful},
    {"restart_pending", nullptr, nullptr, nullptr, &SourceStatus::restart_pending},
    {"restarts_triggered", nullptr, nullptr, &SourceStatus::restarts_triggered, nullptr},
    {"failures_error", nullptr, nullptr, &SourceStatus::failures_error, nullptr},
    {"failures_auth_failed", nullptr, nullptr, &SourceStatus::failures_auth_failed, nullptr},
    {"failures_stale_version", nullptr, nullptr, &SourceStatus::failures_stale_version, nullptr},
    {"failures_refused", nullptr, nullptr, &SourceStatus::failures_refused, nullptr},
    {"failures_config_rejected", nullptr, nullptr, &SourceStatus::failures_config_rejected,
     nullptr},
    {"in_sync", nullptr, &SourceStatus::in_sync_unix, nullptr, nullptr},
    {"behind_since", nullptr, &SourceStatus::behind_since_unix, nullptr, nullptr},
    {"last_error", &SourceStatus::last_error, nullptr, nullptr, nullptr},
    {"config_check_output", &SourceStatus::config_check_output, nullptr, nullptr, nullptr},
    {"events", &SourceStatus::events, nullptr, nullptr, nullptr},
};

std::string value_text(const SourceStatus& s, const Field& f) {
    if (f.text) return s.*f.text;
    if (f.i64) return std::to_string(s.*f.i64);
    if (f.u64) return std::to_string(s.*f.u64);
    return s.*f.flag ? "true" : "false";
}

std::string iso_time(std::int64_t t) {
    if (t <= 0) return "never";
    std::time_t tt = static_cast<std::time_t>(t);
    std::tm tm;
    gmtime_r(&tt, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

}  // namespace

std::string serialise_status(const std::vector<SourceStatus>& sources, std::int64_t child_pid) {
    std::string out = "pid " + std::to_string(child_pid) + "\n";
    for (std::size_t i = 0; i < sources.size(); ++i) {
        out += "source " + std::to_string(i) + "\n";
        for (const auto& f : kFields)
            out += std::string(f.key) + " " + percent_encode(value_text(sources[i], f)) + "\n";
    }
    return out;
}

std::vector<SourceStatus> parse_status(const std::string& text, std::int64_t* child_pid) {
    std::vector<SourceStatus> out;
    std::size_t start = 0;
    while (start < text.size()) {
        std::size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        std::string line = text.substr(start, end - start);
        start = end + 1;
        auto sp = line.find(' ');
        if (sp == std::string::npos) continue;
        std::string key = line.substr(0, sp);
        auto value = percent_decode(line.substr(sp + 1));
        if (!value) value = std::string();
        if (key == "pid") {
            if (child_pid) *child_pid = std::atoll(value->c_str());
        } else if (key == "source") {
            out.emplace_back();
        } else if (!out.empty()) {
            for (const auto& f : kFields) {
                if (key != f.key) continue;
                if (f.text)
                    out.back().*f.text = *value;
                else if (f.i64)
                    out.back().*f.i64 = std::atoll(value->c_str());
                else if (f.u64)
                    out.back().*f.u64 = std::strtoull(value->c_str(), nullptr, 10);
                else
                    out.back().*f.flag = *value == "true";
            }
        }
    }
    return out;
}

std::string html_escape(const std::string& s) {
    return suite::xml_escape(s);
}

std::string render_status_json(const std::vector<SourceStatus>& sources, std::int64_t child_pid,
                               bool child_running, const LongPollStats* long_polls) {
    std::string out = "{\"sync_child_pid\":" + std::to_string(child_pid) +
                      ",\"sync_child_running\":" + (child_running ? "true" : "false") +
                      ",\"sources\":[";
    for (std::size_t i = 0; i < sources.size(); ++i) {
        if (i) out += ",";
        out += "{";
        bool first = true;
        for (const auto& f : kFields) {
            if (!first) out += ",";
            first = false;
            out += "\"" + std::string(f.key) + "\":";
            if (f.text)
                out += suite::json_string(sources[i].*f.text);
            else
                out += value_text(sources[i], f);
        }
        out += "}";
    }
    out += "]";
    if (long_polls) {
        const LongPollStats& lp = *long_polls;
        out += ",\"long_polls\":{\"waiting\":" + std::to_string(lp.waiting) +
               ",\"cap\":" + std::to_string(lp.cap) + ",\"peak\":" + std::to_string(lp.peak) +
               ",\"admitted\":" + std::to_string(lp.admitted) +
               ",\"refused\":" + std::to_string(lp.refused) +
               ",\"client_gone\":" + std::to_string(lp.client_gone) + "}";
    }
    out += "}\n";
    return out;
}

void note_sync_event(SourceStatus& s, std::int64_t unix_time, const std::string& result,
                     std::uint64_t files, std::uint64_t bytes) {
    std::string entry = std::to_string(unix_time) + " " + result + " " + std::to_string(files) +
                        " " + std::to_string(bytes);
    s.events = s.events.empty() ? entry : s.events + ";" + entry;
    std::size_t count = std::count(s.events.begin(), s.events.end(), ';') + 1;
    while (count-- > kMaxSyncEvents) s.events.erase(0, s.events.find(';') + 1);
}

void count_failure(SourceStatus& s, std::int64_t unix_time) {
    if (s.result == "auth-failed")
        ++s.failures_auth_failed;
    else if (s.result == "stale-version")
        ++s.failures_stale_version;
    else if (s.result == "refused")
        ++s.failures_refused;
    else if (s.result == "config-rejected")
        ++s.failures_config_rejected;
    else
        ++s.failures_error;
    if (s.result != "stale-version") mark_behind(s, unix_time);
}

void mark_behind(SourceStatus& s, std::int64_t unix_time) {
    if (s.behind_since_unix == 0) s.behind_since_unix = s.in_sync_unix ? s.in_sync_unix : unix_time;
}

void mark_in_sync(SourceStatus& s, std::int64_t unix_time) {
    s.in_sync_unix = unix_time;
    s.behind_since_unix = 0;
}

std::int64_t seconds_behind(const SourceStatus& s, std::int64_t now_unix) {
    if (s.behind_since_unix == 0) return 0;
    return now_unix > s.behind_since_unix ? now_unix - s.behind_since_unix : 0;
}

std::vector<SyncEvent> parse_sync_events(const std::string& events) {
    std::vector<SyncEvent> out;
    std::size_t start = 0;
    while (start < events.size()) {
        std::size_t end = std::min(events.find(';', start), events.size());
        std::istringstream entry(events.substr(start, end - start));
        SyncEvent e;
        if (entry >> e.unix_time >> e.result >> e.files >> e.bytes) out.push_back(e);
        start = end + 1;
    }
    return out;
}

// The last ten minutes of rounds and failures: a bar per event, green for a good round, red
// for a failure, orange for a configuration the server refused; taller for more bytes.
static std::string render_sync_events(const SourceStatus& s) {
    constexpr std::int64_t kNanos = 1'000'000'000;
    constexpr std::int64_t kSpanSeconds = 600;
    std::vector<suite::EventMark> marks;
    for (const SyncEvent& e : parse_sync_events(s.events)) {
        const char* color = e.result == "ok"                ? "#2ca02c"
                            : e.result == "config-rejected" ? "#ff7f0e"
                                                            : "#d62728";
        marks.push_back({e.unix_time * kNanos, static_cast<double>(e.bytes), color,
                         iso_time(e.unix_time) + " " + e.result + ": " + std::to_string(e.files) +
                             " files, " + std::to_string(e.bytes) + " bytes"});
    }
    suite::ChartFrame frame{static_cast<std::int64_t>(std::time(nullptr)) * kNanos,
                            kSpanSeconds * kNanos,
                            "sync-events",
                            "sync rounds over the last ten minutes",
                            600,
                            50};
    return "<figure>" + suite::svg_events(frame, marks) +
           "<figcaption>Sync rounds, last ten minutes: <span style=\"color:#2ca02c\">&#9632;"
           "</span> applied, <span style=\"color:#ff7f0e\">&#9632;</span> configuration "
           "refused, <span style=\"color:#d62728\">&#9632;</span> failed (taller: more bytes)"
           "</figcaption></figure>\n";
}

std::string render_status_html(const std::vector<SourceStatus>& sources, std::int64_t child_pid,
                               bool child_running, const LongPollStats* long_polls) {
    std::string out =
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>docsync status</title>"
        "</head><body>\n<h1>docsync</h1>\n<p>sync process: " +
        std::to_string(child_pid) + (child_running ? " (running)" : " (not running)") + "</p>\n";
    if (long_polls) {
        const LongPollStats& lp = *long_polls;
        out += "<h2>Long polls (exports)</h2>\n<table border=\"1\">\n";
        auto row = [&](const std::string& k, std::uint64_t v) {
            out += "<tr><th align=\"left\">" + html_escape(k) + "</th><td>" + std::to_string(v) +
                   "</td></tr>\n";
        };
        row("waiting now", lp.waiting);
        row("cap (DocSyncExportMaxLongPolls)", lp.cap);
        row("peak", lp.peak);
        row("admitted", lp.admitted);
        row("refused at the cap (answered at once)", lp.refused);
        row("ended early: client gone", lp.client_gone);
        out += "</table>\n";
    }
    if (sources.empty()) out += "<p>No DocSyncSource configured or no round finished yet.</p>\n";
    for (const auto& s : sources) {
        out += "<h2>" + html_escape(s.url) + " &rarr; " + html_escape(s.local_dir) +
               "</h2>\n<table border=\"1\">\n";
        auto row = [&](const std::string& k, const std::string& v) {
            out += "<tr><th align=\"left\">" + html_escape(k) + "</th><td><pre>" + html_escape(v) +
                   "</pre></td></tr>\n";
        };
        row("result", s.result);
        row("last attempt", iso_time(s.last_attempt_unix));
        row("last success", iso_time(s.last_success_unix));
        row("rounds / manifest polls", std::to_string(s.rounds) + " / " + std::to_string(s.polls));
        row("files transferred (last round / total)",
            std::to_string(s.last_files) + " / " + std::to_string(s.files_transferred));
        row("bytes on the wire (last round, both ways)", std::to_string(s.last_bytes));
        row("bytes received / sent (total)",
            std::to_string(s.bytes_received) + " / " + std::to_string(s.bytes_sent));
        row("bytes saved by delta", std::to_string(s.bytes_saved_by_delta));
        row("restart=graceful", s.restart_graceful ? "yes" : "no");
        row("restart pending", s.restart_pending ? "yes" : "no");
        row("graceful restarts triggered", std::to_string(s.restarts_triggered));
        row("last error", s.last_error.empty() ? "-" : s.last_error);
        if (!s.config_check_output.empty()) row("config check output", s.config_check_output);
        out += "</table>\n" + render_sync_events(s);
    }
    out += "</body></html>\n";
    return out;
}

}  // namespace docsync
