// SetHandler balancer-traffic-status: gathers each balancer's report from httpd and the shared
// state and writes the page the core renders: HTML or JSON with ?json (core/status_page.h),
// ?metrics or an OpenMetrics Accept for a Prometheus scraper (core/status_metrics.h).
// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <apr_strings.h>
#include <http_protocol.h>
#include <http_request.h>

#include <memory>
#include <string>
#include <vector>

#include "../common/httpd_glue.h"
#include "../common/monotonic_clock.h"
#include "balancer_binding.h"
#include "core/status_metrics.h"
#include "core/status_page.h"

namespace balancer_traffic {
namespace {

std::string state_text(const proxy_worker* worker) {
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
    return text;
}

// What httpd itself says of a member.
MemberStatus member_of(const proxy_worker* worker) {
    MemberStatus m;
    m.name = member_name(worker);
    m.state = state_text(worker);
    m.loadfactor = worker->s->lbfactor / 100.0;
    m.lbset = worker->s->lbset;
    m.usable = PROXY_WORKER_IS_USABLE(worker) != 0;
    m.requests_total = worker->s->elected;
    return m;
}

// The members' inputs and reports and the share history, read under the balancer's lock.
void gather_members(BalancerBinding* binding, server_rec* s, BalancerStatus* out) {
    auto history = std::make_unique<ShareHistory>();  // ~5 KiB: not on the stack
    std::vector<MemberReport> reports;
    std::size_t count;
    {
        suite::SharedLock lock(binding->region->mutex);
        // Read under the lock: a pick recorded before it is never later than `now`.
        const MonoNanos now = suite::monotonic_now();
        count = read_members(binding, s, false);
        reports.resize(count);
        report_members(binding->config, binding->region->view(), binding->inputs, count, now,
                       reports.data());
        for (std::size_t i = 0; i < count; ++i) {
            const proxy_worker* worker =
                APR_ARRAY_IDX(binding->balancer->workers, i, proxy_worker*);
            MemberStatus& m = out->members.emplace_back(member_of(worker));
            m.report = reports[i];
            m.loadfactor = binding->inputs[i].loadfactor / 100.0;
            m.lbset = binding->inputs[i].lbset;
        }
        *history = binding->region->history;
    }
    out->history = share_lines(*history, count);
}

TrafficStatus gather(request_rec* r) {
    TrafficStatus status;
    proxy_server_conf* conf = proxy_config_of(r->server);
    const int count = conf && conf->balancers ? conf->balancers->nelts : 0;
    for (int i = 0; i < count; ++i) {
        proxy_balancer* balancer = &reinterpret_cast<proxy_balancer*>(conf->balancers->elts)[i];
        BalancerBinding* binding = binding_of(balancer);
        BalancerStatus b;
        b.name = balancer->s->name;
        b.lbmethod = balancer->lbmethod ? balancer->lbmethod->name : "none";
        if (!binding) {
            for (int w = 0; w < balancer->workers->nelts; ++w)
                b.members.push_back(
                    member_of(APR_ARRAY_IDX(balancer->workers, w, const proxy_worker*)));
        } else {
            b.managed = true;
            b.our_lbmethod = binding->region->method != 0;
            b.by_latency =
                binding->region->method == static_cast<std::uint32_t>(Method::kByLatency);
            b.config = binding->config;
            gather_members(binding, r->server, &b);
        }
        status.balancers.push_back(std::move(b));
    }
    status.now = suite::monotonic_now();  // after every sample the chart draws
    return status;
}

bool asks_for(const request_rec* r, const char* format) {
    const std::size_t n = strlen(format);
    return r->args && !strncmp(r->args, format, n) && (!r->args[n] || r->args[n] == '&');
}

}  // namespace
}  // namespace balancer_traffic

using namespace balancer_traffic;

int balancer_traffic_status_handler(request_rec* r) {
    if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
    try {
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
        if (suite::answer_metrics(r, [&](suite::MetricsFormat format) {
                return render_metrics(gather(r).balancers, format);
            }))
            return OK;
        const bool json = asks_for(r, "json");
        ap_set_content_type(r, json ? "application/json" : "text/html; charset=utf-8");
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
        if (r->header_only) return OK;
        const TrafficStatus status = gather(r);
        const std::string body = json ? status_json(status) : status_html(status);
        ap_rwrite(body.data(), static_cast<int>(body.size()), r);
        return OK;
    } catch (...) {  // nothing may throw into httpd
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}
