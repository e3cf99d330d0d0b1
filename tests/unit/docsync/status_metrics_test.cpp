#include "status_metrics.h"

#include <catch2/catch.hpp>
#include <string>

#include "exposition_lines.h"

using namespace docsync;

namespace {

SourceStatus synced_source() {
    SourceStatus s;
    s.url = "https://primary/.docsync/site";
    s.local_dir = "/var/www/site";
    s.result = "ok";
    s.rounds = 4;
    s.polls = 9;
    s.files_transferred = 17;
    s.bytes_received = 123456;
    s.bytes_sent = 2345;
    s.bytes_saved_by_delta = 99999;
    s.last_success_unix = 1'700'000'000;
    s.restarts_triggered = 2;
    return s;
}

const std::string kLabels = "{source=\"https://primary/.docsync/site\",directory=\"/var/www/site\"";

}  // namespace

TEST_CASE("docsync metrics carry each source's status and each export's manifest") {
    SourceStatus s = synced_source();
    // The status file is what the metrics are built from: go through it.
    std::int64_t pid = 0;
    s = parse_status(serialise_status({s}, 42), &pid).at(0);
    mark_in_sync(s, 1'700'000'000);
    DocsyncStatus st{
        {s}, {{"site", true, 4096, 120, 3}, {"conf", false, 0, 0, 0}}, true, 1'700'000'100};
    const std::string page = render_metrics(st, suite::MetricsFormat::kPrometheusText);
    CHECK(has_line(page, "httpd_docsync_sync_process_running 1"));
    CHECK(has_line(page, "httpd_docsync_rounds_total" + kLabels + "} 4"));
    CHECK(has_line(page, "httpd_docsync_manifest_polls_total" + kLabels + "} 9"));
    CHECK(has_line(page, "httpd_docsync_received_bytes_total" + kLabels + "} 123456"));
    CHECK(has_line(page, "httpd_docsync_sent_bytes_total" + kLabels + "} 2345"));
    CHECK(has_line(page, "httpd_docsync_delta_saved_bytes_total" + kLabels + "} 99999"));
    CHECK(has_line(page, "httpd_docsync_files_transferred_total" + kLabels + "} 17"));
    CHECK(has_line(page, "httpd_docsync_graceful_restarts_total" + kLabels + "} 2"));
    CHECK(
        has_line(page, "httpd_docsync_last_success_timestamp_seconds" + kLabels + "} 1700000000"));
    CHECK(has_line(page, "httpd_docsync_behind_primary_seconds" + kLabels + "} 0"));
    CHECK(has_line(page, "httpd_docsync_last_result" + kLabels + ",result=\"ok\"} 1"));
    CHECK(has_line(page, "httpd_docsync_last_result" + kLabels + ",result=\"error\"} 0"));
    CHECK(has_line(page, "httpd_docsync_failures_total" + kLabels + ",result=\"error\"} 0"));
    CHECK(has_line(page, "httpd_docsync_configs_rejected_total" + kLabels + "} 0"));
    CHECK(has_line(page, "httpd_docsync_export_manifest_bytes{export=\"site\"} 4096"));
    CHECK(has_line(page, "httpd_docsync_export_manifest_entries{export=\"site\"} 120"));
    CHECK(has_line(page, "httpd_docsync_export_long_polls_waiting{export=\"site\"} 3"));
    CHECK(has_line(page, "httpd_docsync_export_long_polls_waiting{export=\"conf\"} 0"));
    // An export not scanned yet has no manifest to measure.
    CHECK(page.find("httpd_docsync_export_manifest_bytes{export=\"conf\"}") == std::string::npos);
    // A primary without sources runs no sync process, and that is no failure.
    const std::string primary =
        render_metrics({{}, st.exports, false, 0}, suite::MetricsFormat::kPrometheusText);
    CHECK(primary.find("\nhttpd_docsync_sync_process_running ") == std::string::npos);
}

TEST_CASE("failures count by result and leave the copy behind since it last matched") {
    SourceStatus s = synced_source();
    mark_in_sync(s, 1000);
    s.result = "error";
    count_failure(s, 1010);
    s.result = "config-rejected";
    count_failure(s, 1020);
    s.result = "stale-version";
    count_failure(s, 1030);
    CHECK(s.failures_error == 1);
    CHECK(s.failures_config_rejected == 1);
    CHECK(s.failures_stale_version == 1);
    CHECK(s.behind_since_unix == 1000);
    CHECK(seconds_behind(s, 1300) == 300);
    std::int64_t pid = 0;
    s = parse_status(serialise_status({s}, 1), &pid).at(0);  // survives the status file
    const std::string page =
        render_metrics({{s}, {}, false, 1300}, suite::MetricsFormat::kOpenMetrics);
    CHECK(has_line(page, "httpd_docsync_behind_primary_seconds" + kLabels + "} 300"));
    CHECK(has_line(page, "httpd_docsync_failures_total" + kLabels + ",result=\"error\"} 1"));
    CHECK(has_line(page,
                   "httpd_docsync_failures_total" + kLabels + ",result=\"config-rejected\"} 1"));
    CHECK(has_line(page, "httpd_docsync_configs_rejected_total" + kLabels + "} 1"));
    CHECK(has_line(page, "httpd_docsync_sync_process_running 0"));
    CHECK(has_line(page, "# TYPE httpd_docsync_failures counter"));
    CHECK(has_line(page, "# UNIT httpd_docsync_behind_primary_seconds seconds"));
    CHECK(page.substr(page.size() - 6) == "# EOF\n");
    mark_in_sync(s, 1400);
    CHECK(seconds_behind(s, 1500) == 0);
}

TEST_CASE("a stale answer alone does not put the copy behind") {
    SourceStatus s = synced_source();
    mark_in_sync(s, 1000);
    s.result = "stale-version";
    count_failure(s, 1010);
    CHECK(seconds_behind(s, 2000) == 0);
}

TEST_CASE("a source never in sync is behind since the sync process started") {
    SourceStatus s;
    s.url = "u";
    s.behind_since_unix = 500;  // as the sync process starts each source
    mark_behind(s, 600);
    CHECK(seconds_behind(s, 700) == 200);
    SourceStatus pending;  // the page before the sync process wrote anything
    const std::string page =
        render_metrics({{pending}, {}, true, 700}, suite::MetricsFormat::kPrometheusText);
    CHECK(page.find("httpd_docsync_behind_primary_seconds{") == std::string::npos);
    CHECK(page.find("httpd_docsync_last_success_timestamp_seconds{") == std::string::npos);
}

TEST_CASE("source URLs and export names with quotes, backslashes and newlines are escaped") {
    SourceStatus s = synced_source();
    s.url = "https://p/\"x\"\\y\nz";
    const std::string page = render_metrics({{s}, {{"a\"b\\c\nd", true, 1, 1, 0}}, true, 0},
                                            suite::MetricsFormat::kPrometheusText);
    CHECK(has_line(page,
                   "httpd_docsync_rounds_total{source=\"https://p/\\\"x\\\"\\\\y\\nz\","
                   "directory=\"/var/www/site\"} 4"));
    CHECK(has_line(page, "httpd_docsync_export_manifest_entries{export=\"a\\\"b\\\\c\\nd\"} 1"));
}
