#include "status_metrics.h"

#include <functional>

namespace docsync {
namespace {

using suite::MetricType;

// The results a source's last attempt can have (SourceStatus::result), one-hot in the metrics.
const char* const kResults[] = {"pending",       "ok",      "error",          "auth-failed",
                                "stale-version", "refused", "config-rejected"};

// One family with one sample per source, labelled with its URL and local directory.
void source_family(suite::MetricsWriter& w, const std::vector<SourceStatus>& sources,
                   const char* name, MetricType type, const char* help, const char* unit,
                   const std::function<double(const SourceStatus&)>& value) {
    w.family(name, type, help, unit);
    for (const SourceStatus& s : sources)
        w.sample({{"source", s.url}, {"directory", s.local_dir}}, value(s));
}

double as_double(std::uint64_t v) {
    return static_cast<double>(v);
}

void last_result_family(suite::MetricsWriter& w, const std::vector<SourceStatus>& ss) {
    w.family("httpd_docsync_last_result", MetricType::kGauge,
             "1 for the result of the source's last attempt, 0 for the others");
    for (const SourceStatus& s : ss)
        for (const char* result : kResults)
            w.sample({{"source", s.url}, {"directory", s.local_dir}, {"result", result}},
                     s.result == result ? 1 : 0);
}

void failures_family(suite::MetricsWriter& w, const std::vector<SourceStatus>& ss) {
    w.family("httpd_docsync_failures", MetricType::kCounter, "Failed attempts, by result");
    for (const SourceStatus& s : ss) {
        const std::pair<const char*, std::uint64_t> by_result[] = {
            {"error", s.failures_error},
            {"auth-failed", s.failures_auth_failed},
            {"stale-version", s.failures_stale_version},
            {"refused", s.failures_refused},
            {"config-rejected", s.failures_config_rejected}};
        for (const auto& [result, count] : by_result)
            w.sample({{"source", s.url}, {"directory", s.local_dir}, {"result", result}},
                     as_double(count));
    }
}

// What the rounds did: configurations refused, bytes and files moved, restarts.
void round_effect_families(suite::MetricsWriter& w, const std::vector<SourceStatus>& ss) {
    source_family(w, ss, "httpd_docsync_configs_rejected", MetricType::kCounter,
                  "Synced configurations that failed httpd -t and were not applied", "",
                  [](const SourceStatus& s) { return as_double(s.failures_config_rejected); });
    source_family(w, ss, "httpd_docsync_received_bytes", MetricType::kCounter,
                  "Bytes received from the primary, headers included", "bytes",
                  [](const SourceStatus& s) { return as_double(s.bytes_received); });
    source_family(w, ss, "httpd_docsync_sent_bytes", MetricType::kCounter,
                  "Bytes sent to the primary: requests, signatures, path lists", "bytes",
                  [](const SourceStatus& s) { return as_double(s.bytes_sent); });
    source_family(w, ss, "httpd_docsync_delta_saved_bytes", MetricType::kCounter,
                  "Bytes not transferred because a file came as a delta", "bytes",
                  [](const SourceStatus& s) { return as_double(s.bytes_saved_by_delta); });
    source_family(w, ss, "httpd_docsync_files_transferred", MetricType::kCounter,
                  "Files fetched from the primary", "",
                  [](const SourceStatus& s) { return as_double(s.files_transferred); });
    source_family(w, ss, "httpd_docsync_graceful_restarts", MetricType::kCounter,
                  "Graceful restarts triggered by a synced configuration", "",
                  [](const SourceStatus& s) { return as_double(s.restarts_triggered); });
    source_family(w, ss, "httpd_docsync_restart_pending", MetricType::kGauge,
                  "1 while a graceful restart for a synced configuration is pending", "",
                  [](const SourceStatus& s) { return s.restart_pending ? 1.0 : 0.0; });
}

// How fresh the local copy is; a source with nothing to say yet has no sample.
void freshness_families(suite::MetricsWriter& w, const DocsyncStatus& st) {
    w.family("httpd_docsync_last_success_timestamp_seconds", MetricType::kGauge,
             "Unix time of the source's last complete round; absent before the first", "seconds");
    for (const SourceStatus& s : st.sources)
        if (s.last_success_unix > 0)
            w.sample({{"source", s.url}, {"directory", s.local_dir}},
                     static_cast<double>(s.last_success_unix));
    w.family("httpd_docsync_behind_primary_seconds", MetricType::kGauge,
             "Time since the local copy was last known to match the primary's manifest; 0 while "
             "it does; absent until the sync process reported",
             "seconds");
    for (const SourceStatus& s : st.sources)
        if (s.result != "pending" || s.behind_since_unix > 0)
            w.sample({{"source", s.url}, {"directory", s.local_dir}},
                     static_cast<double>(seconds_behind(s, st.now_unix)));
}

// The families in the order the README's metrics table lists them.
void source_families(suite::MetricsWriter& w, const DocsyncStatus& st) {
    const auto& ss = st.sources;
    last_result_family(w, ss);
    source_family(w, ss, "httpd_docsync_rounds", MetricType::kCounter,
                  "Sync rounds run (a changed manifest was applied or tried)", "",
                  [](const SourceStatus& s) { return as_double(s.rounds); });
    source_family(w, ss, "httpd_docsync_manifest_polls", MetricType::kCounter,
                  "Manifest requests answered, \"not modified\" included", "",
                  [](const SourceStatus& s) { return as_double(s.polls); });
    failures_family(w, ss);
    round_effect_families(w, ss);
    freshness_families(w, st);
}

void export_families(suite::MetricsWriter& w, const std::vector<ExportStatus>& exports) {
    w.family("httpd_docsync_export_manifest_bytes", MetricType::kGauge,
             "Size of the export's current manifest; absent before its first scan", "bytes");
    for (const ExportStatus& e : exports)
        if (e.scanned) w.sample({{"export", e.name}}, as_double(e.manifest_bytes));
    w.family("httpd_docsync_export_manifest_entries", MetricType::kGauge,
             "Files, directories and links in the export's current manifest");
    for (const ExportStatus& e : exports)
        if (e.scanned) w.sample({{"export", e.name}}, as_double(e.entries));
    w.family("httpd_docsync_export_long_polls_waiting", MetricType::kGauge,
             "Manifest requests waiting for the export to change, over all httpd children");
    for (const ExportStatus& e : exports)
        w.sample({{"export", e.name}}, as_double(e.long_polls_waiting));
}

void long_poll_families(suite::MetricsWriter& w, const LongPollStats& lp) {
    struct Family {
        const char* name;
        MetricType type;
        const char* help;
        std::uint64_t value;
    };
    const Family families[] = {
        {"httpd_docsync_long_polls_waiting", MetricType::kGauge,
         "Manifest long polls waiting now, all exports and httpd children", lp.waiting},
        {"httpd_docsync_long_polls_cap", MetricType::kGauge,
         "Long polls allowed to wait at once (DocSyncExportMaxLongPolls); beyond it they are "
         "answered at once",
         lp.cap},
        {"httpd_docsync_long_polls_peak", MetricType::kGauge,
         "The most long polls waiting at once since httpd started", lp.peak},
        {"httpd_docsync_long_polls_admitted", MetricType::kCounter,
         "Long polls that waited for a change", lp.admitted},
        {"httpd_docsync_long_polls_refused", MetricType::kCounter,
         "Long polls answered at once because the cap was reached", lp.refused},
        {"httpd_docsync_long_polls_client_gone", MetricType::kCounter,
         "Long polls whose wait ended early because the client had closed the connection",
         lp.client_gone},
    };
    for (const Family& f : families) {
        w.family(f.name, f.type, f.help);
        w.sample(as_double(f.value));
    }
}

}  // namespace

std::string render_metrics(const DocsyncStatus& status, suite::MetricsFormat format,
                           const LongPollStats* long_polls) {
    suite::MetricsWriter w(format);
    w.family("httpd_docsync_sync_process_running", MetricType::kGauge,
             "1 if the sync process that runs the sources is alive, else 0; absent without a "
             "DocSyncSource");
    if (!status.sources.empty()) w.sample(status.sync_process_running ? 1 : 0);
    source_families(w, status);
    export_families(w, status.exports);
    if (long_polls) long_poll_families(w, *long_polls);
    return w.finish();
}

}  // namespace docsync
