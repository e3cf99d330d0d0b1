// mod_balancer_traffic: the httpd module record, directives and hook registration.
// The scheduling itself lives in core/ and knows nothing of httpd.
// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <apr_strings.h>
#include <http_config.h>
#include <http_log.h>

#include <algorithm>
#include <string>

#include "../common/directive_glue.h"
#include "../common/httpd_glue.h"
#include "balancer_binding.h"
#include "directive_config.h"

APLOG_USE_MODULE(balancer_traffic);

namespace balancer_traffic {
namespace {

void* merge_server_config(apr_pool_t* p, void* base_v, void* add_v) {
    const auto* base = static_cast<ServerConfig*>(base_v);
    const auto* add = static_cast<ServerConfig*>(add_v);
    auto* merged =
        static_cast<ServerConfig*>(suite::create_server_config<ServerConfig>(p, nullptr));
    merged->defaults = merge(base->defaults, add->defaults);
    merged->section_count = base->section_count + add->section_count;
    merged->sections = static_cast<SectionConfig*>(
        apr_pcalloc(p, sizeof(SectionConfig) * std::max(merged->section_count, 1)));
    std::copy_n(base->sections, base->section_count, merged->sections);
    std::copy_n(add->sections, add->section_count, merged->sections + base->section_count);
    return merged;
}

// Where a directive lands: the server's defaults, or the entry of the <Proxy balancer://...>
// section it is written in.
const char* target_config(cmd_parms* cmd, DirectiveConfig** out) {
    auto* server = static_cast<ServerConfig*>(
        ap_get_module_config(cmd->server->module_config, &balancer_traffic_module));
    if (!cmd->path) {
        *out = &server->defaults;
        return nullptr;
    }
    if (strncasecmp(cmd->path, "balancer://", 11) != 0)
        return suite::directive_error(cmd, std::string("allowed in the server configuration or in "
                                                       "<Proxy balancer://...>, not in <") +
                                               cmd->path + ">");
    for (int i = 0; i < server->section_count; ++i)
        if (!strcasecmp(server->sections[i].balancer, cmd->path)) {
            *out = &server->sections[i].config;
            return nullptr;
        }
    auto* grown = static_cast<SectionConfig*>(
        apr_pcalloc(cmd->pool, sizeof(SectionConfig) * (server->section_count + 1)));
    std::copy_n(server->sections, server->section_count, grown);
    grown[server->section_count] = SectionConfig{apr_pstrdup(cmd->pool, cmd->path), {}};
    server->sections = grown;
    *out = &server->sections[server->section_count++].config;
    return nullptr;
}

const char* set_window(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, target_config, [&](DirectiveConfig* config) -> const char* {
        config->window_set = true;
        return suite::set_duration(
            cmd, arg, {kMinimumWindow, kMaximumWindow, std::chrono::seconds(1), "cumulative"},
            &config->window);
    });
}

const char* set_slow_start(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, target_config, [&](DirectiveConfig* config) -> const char* {
        config->slow_start_set = true;
        return suite::set_duration(
            cmd, arg, {kMinimumSlowStart, kMaximumSlowStart, std::chrono::seconds(1), "off"},
            &config->slow_start);
    });
}

const char* set_latency_decay(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, target_config, [&](DirectiveConfig* config) -> const char* {
        config->latency_decay_set = true;
        return suite::set_duration(cmd, arg, {kMinimumLatencyDecay, kMaximumLatencyDecay},
                                   &config->latency_decay);
    });
}

const command_rec directives[] = {
    AP_INIT_TAKE1("BalancerTrafficWindow", reinterpret_cast<cmd_func>(set_window), nullptr,
                  RSRC_CONF | ACCESS_CONF,
                  "Decay time constant of per-member traffic (e.g. 10s), or 'cumulative'"),
    AP_INIT_TAKE1("BalancerTrafficSlowStart", reinterpret_cast<cmd_func>(set_slow_start), nullptr,
                  RSRC_CONF | ACCESS_CONF,
                  "Weight ramp for new or recovered members (e.g. 5s), or 'off'"),
    AP_INIT_TAKE1("BalancerLatencyDecay", reinterpret_cast<cmd_func>(set_latency_decay), nullptr,
                  RSRC_CONF | ACCESS_CONF,
                  "bylatency: time constant of the per-member response-time estimate (e.g. 500ms)"),
    {nullptr, {nullptr}, nullptr, 0, RAW_ARGS, nullptr}};

// Every module is loaded by now, whatever order the LoadModule lines came in.
int pre_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*) {
    return balancer_traffic_hook_into_proxy(pconf, nullptr) ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) noexcept {
    try {
        return balancer_traffic_bind_balancers(pconf, s);
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "mod_balancer_traffic: %s", e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

int status_handler(request_rec* r) noexcept {
    if (!r->handler || strcmp(r->handler, "balancer-traffic-status") != 0) return DECLINED;
    try {
        return balancer_traffic_status_handler(r);
    } catch (const std::exception& e) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r, "balancer-traffic-status: %s", e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

void register_hooks(apr_pool_t* p) {
    balancer_traffic_register_lbmethods(p);
    // After mod_proxy_balancer has set up balancers, their shared records and safe names.
    static const char* const run_after[] = {"mod_proxy_balancer.c", nullptr};
    ap_hook_pre_config(pre_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_post_config(post_config, run_after, nullptr, APR_HOOK_LAST);
    ap_hook_handler(status_handler, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace
}  // namespace balancer_traffic

extern "C" {
module AP_MODULE_DECLARE_DATA balancer_traffic_module = {
    SUITE_MODULE_STUFF("mod_balancer_traffic.c"),
    nullptr,
    nullptr,
    suite::create_server_config<balancer_traffic::ServerConfig>,
    balancer_traffic::merge_server_config,
    balancer_traffic::directives,
    balancer_traffic::register_hooks,
    AP_MODULE_FLAG_NONE};
}
