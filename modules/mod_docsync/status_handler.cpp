// `SetHandler docsync-status`: renders what the sync child last wrote to the status file,
// as HTML, with `?json` as JSON, or with `?metrics` (or an OpenMetrics Accept header) as metrics
// for a Prometheus scraper, the exports of this child included.
// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <fcntl.h>
#include <http_config.h>
#include <http_log.h>
#include <http_main.h>
#include <http_protocol.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <string>

#include "../common/httpd_glue.h"
#include "docsync_glue.h"
#include "safe_fs.h"
#include "status_report.h"

APLOG_USE_MODULE(docsync);

namespace docsync {

namespace {
constexpr std::size_t kMaxStatusFileBytes = 1u << 20;

std::string read_status_file(const std::string& path) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd) return {};
    std::string out;
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fd.get(), buf, sizeof buf)) > 0 && out.size() < kMaxStatusFileBytes)
        out.append(buf, static_cast<std::size_t>(n));
    return out;
}

bool wants_json(const char* args) {
    if (!args) return false;
    std::string a(args);
    return a == "json" || a.rfind("json&", 0) == 0 || a.find("&json") != std::string::npos;
}
}  // namespace

int status_handler(request_rec* r) {
    if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
    ModuleConfig* config = module_config(ap_server_conf);
    std::int64_t pid = 0;
    auto sources = parse_status(read_status_file(config->status_file), &pid);
    if (sources.empty()) {
        // The sync worker has not written its first status yet (it starts after httpd is up):
        // the configured sources are pending, not absent.
        for (const auto& s : config->sources) {
            SourceStatus st;
            st.url = s.url;
            st.local_dir = s.local_dir;
            st.restart_graceful = s.restart_graceful;
            sources.push_back(std::move(st));
        }
    }
    // The child runs as the parent's user: EPERM still proves it exists.
    bool running = pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
    std::string body;
    const std::optional<LongPollStats> long_polls = long_poll_stats();
    const LongPollStats* lp = long_polls ? &*long_polls : nullptr;
    if (suite::answer_metrics(r, [&](suite::MetricsFormat format) {
            DocsyncStatus status{std::move(sources), export_statuses(), running,
                                 static_cast<std::int64_t>(std::time(nullptr))};
            return render_metrics(status, format, lp);
        }))
        return OK;
    if (wants_json(r->args)) {
        ap_set_content_type(r, "application/json");
        body = render_status_json(sources, pid, running, lp);
    } else {
        ap_set_content_type(r, "text/html; charset=utf-8");
        body = render_status_html(sources, pid, running, lp);
    }
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (!r->header_only) ap_rwrite(body.data(), static_cast<int>(body.size()), r);
    return OK;
}

}  // namespace docsync
