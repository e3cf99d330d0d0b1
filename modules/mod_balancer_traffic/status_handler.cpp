// SetHandler balancer-traffic-status: per balancer and member, the loadfactor, state, windowed
// bytes and requests and the current share against the target share. HTML for people,
// ?json for monitoring, ?metrics (or an OpenMetrics Accept) for a Prometheus scraper.
// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <apr_strings.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>

#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "../common/httpd_glue.h"
#include "../common/json_string.h"
#include "../common/monotonic_clock.h"
#include "balancer_binding.h"
#include "core/share_history.h"
#include "core/status_metrics.h"
#include "core/status_report.h"

namespace balancer_traffic {
namespace {

struct MemberRow {
    proxy_worker* worker;
    MemberInput input;
    MemberReport report;
};

const char* state_text(apr_pool_t* p, const proxy_worker* worker) {
    // The same letters balancer-manager uses: Ok, Dis, Stop, Err, Drn, Stby, Spar.
    const unsigned status = worker->s->status;
    std::string text;
    if (status & PROXY_WORKER_DISABLED) text += "Dis ";
    if (status & PROXY_WORKER_STOPPED) text += "Stop ";
    if (status & PROXY_WORKER_IN_ERROR) text += "Err ";
    if (status & PROXY_WORKER_HC_FAIL) text += "HcFl ";
    if (status & PROXY_WORKER_DRAIN) text += "Drn ";
    if (status & PROXY_WORKER_HOT_STANDBY) text += "Stby ";
    if (status & PROXY_WORKER_HOT_SPARE) text += "Spar ";
    if (PROXY_WORKER_IS_USABLE(worker)) text = "Ok " + text;
    if (!text.empty()) text.pop_back();
    return apr_pstrdup(p, text.c_str());
}

std::vector<MemberRow> snapshot(BalancerBinding* binding, server_rec* s) {
    std::vector<MemberRow> rows;
    suite::SharedLock lock(binding->region->mutex);
    const std::size_t count = read_members(binding, s, false);
    std::vector<MemberReport> reports(count);
    report_members(binding->config, binding->region->view(), binding->inputs, count,
                   suite::monotonic_now(), reports.data());
    for (std::size_t i = 0; i < count; ++i)
        rows.push_back({APR_ARRAY_IDX(binding->balancer->workers, i, proxy_worker*),
                        binding->inputs[i], reports[i]});
    return rows;
}

const char* method_name(const proxy_balancer* balancer) {
    return balancer->lbmethod ? balancer->lbmethod->name : "none";
}

void render_json(request_rec* r, const std::vector<proxy_balancer*>& balancers) {
    ap_set_content_type(r, "application/json");
    ap_rputs("{\"balancers\":[", r);
    bool first_balancer = true;
    for (proxy_balancer* balancer : balancers) {
        BalancerBinding* binding = binding_of(balancer);
        ap_rprintf(r, "%s{\"name\":%s,\"lbmethod\":%s,\"managed\":%s,", first_balancer ? "" : ",",
                   suite::json_string(balancer->s->name).c_str(),
                   suite::json_string(method_name(balancer)).c_str(),
                   binding && binding->region->method ? "true" : "false");
        first_balancer = false;
        if (!binding) {
            ap_rputs("\"members\":[]}", r);
            continue;
        }
        ap_rprintf(r, "\"latency_decay_seconds\":%.3f,",
                   binding->config.latency_decay.count() / 1e9);
        ap_rprintf(r, "\"window_seconds\":%.3f,\"slow_start_seconds\":%.3f,\"members\":[",
                   binding->config.window.count() / 1e9, binding->config.slow_start.count() / 1e9);
        bool first_member = true;
        for (const MemberRow& row : snapshot(binding, r->server)) {
            const MemberReport& m = row.report;
            ap_rprintf(r,
                       "%s{\"name\":%s,\"loadfactor\":%.2f,\"lbset\":%d,\"state\":\"%s\","
                       "\"eligible\":%s,\"window_bytes\":%.0f,\"window_requests\":%.2f,"
                       "\"byte_share\":%.4f,\"request_share\":%.4f,\"target_share\":%.4f,"
                       "\"slow_start\":%.3f,\"inflight\":%u,\"picks_total\":%" APR_UINT64_T_FMT
                       ",\"bytes_total\":%" APR_UINT64_T_FMT,
                       first_member ? "" : ",",
                       suite::json_string(member_name(row.worker)).c_str(),
                       row.input.loadfactor / 100.0, row.input.lbset,
                       state_text(r->pool, row.worker), m.eligible ? "true" : "false",
                       m.window_bytes, m.window_requests, m.byte_share, m.request_share,
                       m.target_share, m.slow_start, m.inflight,
                       static_cast<apr_uint64_t>(m.picks_total),
                       static_cast<apr_uint64_t>(m.bytes_total));
            // bylatency's estimate of time to first byte; null before the first sample.
            if (m.latency_age_ns >= 0)
                ap_rprintf(r, ",\"latency_ms\":%.3f,\"latency_age_ms\":%.1f}", m.latency_ns / 1e6,
                           m.latency_age_ns / 1e6);
            else
                ap_rputs(",\"latency_ms\":null,\"latency_age_ms\":null}", r);
            first_member = false;
        }
        ap_rputs("]}", r);
    }
    ap_rputs("]}\n", r);
}

// The same snapshot as the JSON page, handed to the core's exposition (core/status_metrics.h).
std::string render_metrics(const std::vector<proxy_balancer*>& balancers,
                           suite::MetricsFormat format, server_rec* s) {
    std::vector<BalancerStatus> statuses;
    for (proxy_balancer* balancer : balancers) {
        BalancerBinding* binding = binding_of(balancer);
        BalancerStatus& b = statuses.emplace_back();
        b.name = balancer->s->name;
        b.lbmethod = method_name(balancer);
        b.managed = binding && binding->region->method;
        if (binding) b.config = binding->config;
        if (!binding) {
            for (int i = 0; i < balancer->workers->nelts; ++i) {
                const proxy_worker* w = APR_ARRAY_IDX(balancer->workers, i, proxy_worker*);
                b.members.push_back({member_name(w),
                                     {},
                                     w->s->lbfactor / 100.0,
                                     PROXY_WORKER_IS_USABLE(w) != 0,
                                     w->s->elected});
            }
            continue;
        }
        for (const MemberRow& row : snapshot(binding, s))
            b.members.push_back({member_name(row.worker), row.report, row.input.loadfactor / 100.0,
                                 PROXY_WORKER_IS_USABLE(row.worker) != 0, row.worker->s->elected});
    }
    return balancer_traffic::render_metrics(statuses, format);
}

// A bar of the member's share with a tick at its target, drawn inline: no scripts, no fonts.
void render_share_bar(request_rec* r, double share, double target) {
    constexpr int kWidth = 200, kHeight = 12;
    ap_rprintf(r,
               "<svg width=\"%d\" height=\"%d\" role=\"img\" aria-label=\"share %.1f%% of "
               "target %.1f%%\"><rect width=\"%d\" height=\"%d\" fill=\"#eee\"/>"
               "<rect width=\"%.1f\" height=\"%d\" fill=\"#4a7\"/>"
               "<rect x=\"%.1f\" width=\"2\" height=\"%d\" fill=\"#c33\"/></svg>",
               kWidth, kHeight, share * 100, target * 100, kWidth, kHeight, share * kWidth,
               kHeight, std::min(target * kWidth, kWidth - 2.0), kHeight);
}

// The last minute per member: its byte share per second (solid) against its target (dashed).
// Inline SVG with generic fonts only, so it renders offline and degrades to its text in lynx.
void render_history_chart(request_rec* r, BalancerBinding* binding,
                          const std::vector<MemberRow>& rows) {
    static const char* const kColors[kHistoryMembers] = {"#1f77b4", "#ff7f0e", "#2ca02c",
                                                         "#d62728", "#9467bd", "#8c564b",
                                                         "#e377c2", "#7f7f7f"};
    constexpr double kWidth = 600, kHeight = 160, kLeft = 40, kBottom = 20, kTop = 8;
    constexpr double kSpanSeconds = (kHistorySamples - 1) * kHistoryInterval / 1e9;
    auto history = std::make_unique<ShareHistory>();
    {
        suite::SharedLock lock(binding->region->mutex);
        *history = binding->region->history;
    }
    const MonoNanos now = suite::monotonic_now();
    const double plot_w = kWidth - kLeft - 8, plot_h = kHeight - kBottom - kTop;
    auto x_of = [&](MonoNanos t) {
        return kLeft + plot_w * (1.0 - std::min(1.0, (now - t) / 1e9 / kSpanSeconds));
    };
    auto y_of = [&](double share) { return kTop + plot_h * (1.0 - share); };
    ap_rprintf(r,
               "<figure><svg width=\"%.0f\" height=\"%.0f\" role=\"img\" "
               "aria-label=\"byte share per member over the last minute\" "
               "font-family=\"sans-serif\" font-size=\"10\">"
               "<rect x=\"%.0f\" y=\"%.0f\" width=\"%.0f\" height=\"%.0f\" fill=\"#fafafa\" "
               "stroke=\"#ccc\"/>",
               kWidth, kHeight, kLeft, kTop, plot_w, plot_h);
    for (int pct = 0; pct <= 100; pct += 50)
        ap_rprintf(r, "<text x=\"4\" y=\"%.1f\">%d%%</text>", y_of(pct / 100.0) + 3, pct);
    ap_rprintf(r, "<text x=\"%.0f\" y=\"%.0f\">-60 s</text><text x=\"%.0f\" y=\"%.0f\">now</text>",
               kLeft, kHeight - 6, kWidth - 30, kHeight - 6);
    SharePoint points[kHistorySamples];
    const std::size_t members = std::min(rows.size(), kHistoryMembers);
    for (std::size_t m = 0; m < members; ++m) {
        const std::size_t n = history_points(*history, m, points);
        std::string share_line, target_line;
        char buf[48];
        for (std::size_t i = 0; i < n; ++i) {
            if (now - points[i].time > static_cast<MonoNanos>(kHistorySamples) * kHistoryInterval)
                continue;
            std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x_of(points[i].time),
                          y_of(points[i].target));
            target_line += buf;
            if (points[i].share < 0) continue;
            std::snprintf(buf, sizeof buf, "%.1f,%.1f ", x_of(points[i].time),
                          y_of(points[i].share));
            share_line += buf;
        }
        ap_rprintf(r,
                   "<polyline class=\"target\" points=\"%s\" fill=\"none\" stroke=\"%s\" "
                   "stroke-dasharray=\"4 3\" stroke-width=\"1\"/>"
                   "<polyline class=\"share\" points=\"%s\" fill=\"none\" stroke=\"%s\" "
                   "stroke-width=\"2\"/>",
                   target_line.c_str(), kColors[m], share_line.c_str(), kColors[m]);
    }
    ap_rputs("</svg><figcaption>Byte share per second over the last minute (solid) against the "
             "target share (dashed): ",
             r);
    for (std::size_t m = 0; m < members; ++m)
        ap_rprintf(r, "%s<span style=\"color:%s\">&#9632;</span> %s", m ? ", " : "",
                   kColors[m], ap_escape_html(r->pool, member_name(rows[m].worker)));
    ap_rputs("</figcaption></figure>\n", r);
}

void render_html(request_rec* r, const std::vector<proxy_balancer*>& balancers) {
    ap_set_content_type(r, "text/html; charset=utf-8");
    ap_rputs("<!DOCTYPE html>\n<html><head><title>Balancer traffic</title><style>"
             "body{font-family:sans-serif}table{border-collapse:collapse}"
             "td,th{padding:2px 8px;border-bottom:1px solid #ddd;text-align:right}"
             "td:first-child,th:first-child{text-align:left}</style></head><body>\n"
             "<h1>Balancer traffic</h1>\n",
             r);
    for (proxy_balancer* balancer : balancers) {
        BalancerBinding* binding = binding_of(balancer);
        ap_rprintf(r, "<h2>%s</h2>\n<p>lbmethod %s", ap_escape_html(r->pool, balancer->s->name),
                   method_name(balancer));
        if (!binding) {
            ap_rputs(" (not managed by mod_balancer_traffic)</p>\n", r);
            continue;
        }
        if (binding->config.cumulative()) ap_rputs(", cumulative traffic (no decay)", r);
        else ap_rprintf(r, ", traffic window %.1f s", binding->config.window.count() / 1e9);
        if (binding->config.slow_start.count())
            ap_rprintf(r, ", slow start %.1f s", binding->config.slow_start.count() / 1e9);
        if (binding->region->method == static_cast<std::uint32_t>(Method::kByLatency))
            ap_rprintf(r, ", latency decay %.3f s", binding->config.latency_decay.count() / 1e9);
        ap_rputs("</p>\n<table><tr><th>Member</th><th>Load factor</th><th>Set</th><th>State</th>"
                 "<th>Window bytes</th><th>Window requests</th><th>Byte share</th>"
                 "<th>Request share</th><th>Target</th><th>Share vs target</th>"
                 "<th>In flight</th><th>Ramp</th><th>Picks</th><th>Latency</th></tr>\n",
                 r);
        const std::vector<MemberRow> rows = snapshot(binding, r->server);
        for (const MemberRow& row : rows) {
            const MemberReport& m = row.report;
            ap_rprintf(r,
                       "<tr><td>%s</td><td>%.2f</td><td>%d</td><td>%s</td><td>%.0f</td>"
                       "<td>%.1f</td><td>%.1f%%</td><td>%.1f%%</td><td>%.1f%%</td><td>",
                       ap_escape_html(r->pool, member_name(row.worker)),
                       row.input.loadfactor / 100.0, row.input.lbset,
                       state_text(r->pool, row.worker), m.window_bytes, m.window_requests,
                       m.byte_share * 100, m.request_share * 100, m.target_share * 100);
            render_share_bar(r, m.byte_share, m.target_share);
            ap_rprintf(r, "</td><td>%u</td><td>%.0f%%</td><td>%" APR_UINT64_T_FMT "</td>",
                       m.inflight, m.slow_start * 100, static_cast<apr_uint64_t>(m.picks_total));
            if (m.latency_age_ns >= 0)
                ap_rprintf(r, "<td>%.2f ms</td></tr>\n", m.latency_ns / 1e6);
            else
                ap_rputs("<td>-</td></tr>\n", r);
        }
        ap_rputs("</table>\n", r);
        render_history_chart(r, binding, rows);
    }
    ap_rputs("</body></html>\n", r);
}

}  // namespace
}  // namespace balancer_traffic

using namespace balancer_traffic;

int balancer_traffic_status_handler(request_rec* r) {
    if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
    proxy_server_conf* conf = proxy_config_of(r->server);
    std::vector<proxy_balancer*> balancers;
    if (conf && conf->balancers) {
        auto* list = reinterpret_cast<proxy_balancer*>(conf->balancers->elts);
        for (int i = 0; i < conf->balancers->nelts; ++i) balancers.push_back(&list[i]);
    }
    const bool json = r->args && (!strcmp(r->args, "json") || !strncmp(r->args, "json&", 5));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (suite::answer_metrics(r, [&](suite::MetricsFormat format) {
            return render_metrics(balancers, format, r->server);
        }))
        return OK;
    if (r->header_only) return OK;
    if (json) render_json(r, balancers);
    else render_html(r, balancers);
    return OK;
}
