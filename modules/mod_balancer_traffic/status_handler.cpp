// SetHandler balancer-traffic-status: per balancer and member, the loadfactor, state, windowed
// bytes and requests and the current share against the target share. HTML for people,
// ?json for monitoring.
#include <httpd.h>
#include <apr_strings.h>
#include <http_protocol.h>
#include <http_request.h>
#include <util_script.h>

#include <algorithm>
#include <string>
#include <vector>

#include "../common/monotonic_clock.h"
#include "balancer_binding.h"
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
        ap_rprintf(r, "%s{\"name\":\"%s\",\"lbmethod\":\"%s\",\"managed\":%s,",
                   first_balancer ? "" : ",", ap_escape_quotes(r->pool, balancer->s->name),
                   method_name(balancer),
                   binding && binding->region->method ? "true" : "false");
        first_balancer = false;
        if (!binding) {
            ap_rputs("\"members\":[]}", r);
            continue;
        }
        ap_rprintf(r, "\"window_seconds\":%.3f,\"slow_start_seconds\":%.3f,\"members\":[",
                   binding->config.window.count() / 1e9, binding->config.slow_start.count() / 1e9);
        bool first_member = true;
        for (const MemberRow& row : snapshot(binding, r->server)) {
            const MemberReport& m = row.report;
            ap_rprintf(r,
                       "%s{\"name\":\"%s\",\"loadfactor\":%.2f,\"lbset\":%d,\"state\":\"%s\","
                       "\"eligible\":%s,\"window_bytes\":%.0f,\"window_requests\":%.2f,"
                       "\"byte_share\":%.4f,\"request_share\":%.4f,\"target_share\":%.4f,"
                       "\"slow_start\":%.3f,\"inflight\":%u,\"picks_total\":%" APR_UINT64_T_FMT
                       ",\"bytes_total\":%" APR_UINT64_T_FMT "}",
                       first_member ? "" : ",",
                       ap_escape_quotes(r->pool, member_name(row.worker)),
                       row.input.loadfactor / 100.0, row.input.lbset,
                       state_text(r->pool, row.worker), m.eligible ? "true" : "false",
                       m.window_bytes, m.window_requests, m.byte_share, m.request_share,
                       m.target_share, m.slow_start, m.inflight,
                       static_cast<apr_uint64_t>(m.picks_total),
                       static_cast<apr_uint64_t>(m.bytes_total));
            first_member = false;
        }
        ap_rputs("]}", r);
    }
    ap_rputs("]}\n", r);
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
        ap_rputs("</p>\n<table><tr><th>Member</th><th>Load factor</th><th>Set</th><th>State</th>"
                 "<th>Window bytes</th><th>Window requests</th><th>Byte share</th>"
                 "<th>Request share</th><th>Target</th><th>Share vs target</th>"
                 "<th>In flight</th><th>Ramp</th><th>Picks</th></tr>\n",
                 r);
        for (const MemberRow& row : snapshot(binding, r->server)) {
            const MemberReport& m = row.report;
            ap_rprintf(r,
                       "<tr><td>%s</td><td>%.2f</td><td>%d</td><td>%s</td><td>%.0f</td>"
                       "<td>%.1f</td><td>%.1f%%</td><td>%.1f%%</td><td>%.1f%%</td><td>",
                       ap_escape_html(r->pool, member_name(row.worker)),
                       row.input.loadfactor / 100.0, row.input.lbset,
                       state_text(r->pool, row.worker), m.window_bytes, m.window_requests,
                       m.byte_share * 100, m.request_share * 100, m.target_share * 100);
            render_share_bar(r, m.byte_share, m.target_share);
            ap_rprintf(r, "</td><td>%u</td><td>%.0f%%</td><td>%" APR_UINT64_T_FMT "</td></tr>\n",
                       m.inflight, m.slow_start * 100, static_cast<apr_uint64_t>(m.picks_total));
        }
        ap_rputs("</table>\n", r);
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
    if (r->header_only) return OK;
    if (json) render_json(r, balancers);
    else render_html(r, balancers);
    return OK;
}
