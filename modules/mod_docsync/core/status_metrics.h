// The status page's numbers as metrics a monitoring system scrapes (`docsync-status?metrics`):
// per source the same SourceStatus the HTML and JSON pages render (status_report.h), per export
// what this httpd child's export state holds, written with the suite's exposition writer
// (openmetrics.h). Names start with httpd_docsync_.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "long_poll_cap.h"
#include "openmetrics.h"
#include "status_report.h"

namespace docsync {

struct ExportStatus {
    std::string name;
    bool scanned = false;  // a manifest exists (the first scan succeeded)
    std::uint64_t manifest_bytes = 0;
    std::uint64_t entries = 0;
    std::uint64_t long_polls_waiting = 0;  // manifest requests waiting for a change, all children
};

struct DocsyncStatus {
    std::vector<SourceStatus> sources;
    std::vector<ExportStatus> exports;
    bool sync_process_running = false;
    std::int64_t now_unix = 0;
};

// `long_polls`: a primary's long polls, all exports and children (long_poll_cap.h), or null on a
// server without exports.
std::string render_metrics(const DocsyncStatus& status, suite::MetricsFormat format,
                           const LongPollStats* long_polls = nullptr);

}  // namespace docsync
