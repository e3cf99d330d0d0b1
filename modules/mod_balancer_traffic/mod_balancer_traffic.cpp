// mod_balancer_traffic: the httpd module record, directives and hook registration.
// The scheduling itself lives in core/ and knows nothing of httpd.
#include <httpd.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_log.h>

#include <new>
#include <string>

#include "../common/duration.h"
#include "../common/httpd_glue.h"
#include "balancer_binding.h"
#include "directive_config.h"

APLOG_USE_MODULE(balancer_traffic);

namespace balancer_traffic {
namespace {

void* create_config(apr_pool_t* p) {
    return new (apr_pcalloc(p, sizeof(DirectiveConfig))) DirectiveConfig{};
}

void* merge_config(apr_pool_t* p, void* base_v, void* add_v) {
    auto* merged = static_cast<DirectiveConfig*>(create_config(p));
    *merged = merge(*static_cast<DirectiveConfig*>(base_v), *static_cast<DirectiveConfig*>(add_v));
    return merged;
}

void* create_server_config(apr_pool_t* p, server_rec*) { return create_config(p); }
void* create_dir_config(apr_pool_t* p, char*) { return create_config(p); }

// The directive lands in the <Proxy balancer://...> section's config when written there, in the
// server's otherwise.
DirectiveConfig* target_config(cmd_parms* cmd, void* dir_config) {
    if (cmd->path) return static_cast<DirectiveConfig*>(dir_config);
    return static_cast<DirectiveConfig*>(
        ap_get_module_config(cmd->server->module_config, &balancer_traffic_module));
}

const char* set_window(cmd_parms* cmd, void* dir_config, const char* arg) {
    DirectiveConfig* config = target_config(cmd, dir_config);
    if (!strcasecmp(arg, "cumulative")) {
        config->window = nanoseconds{0};
    } else {
        auto parsed = suite::parse_duration(arg, std::chrono::seconds(1));
        if (!parsed) return suite::directive_error(cmd, parsed.error);
        if (*parsed.value < kMinimumWindow || *parsed.value > kMaximumWindow)
            return suite::directive_error(
                cmd, std::string("window must be between ") +
                         suite::format_duration(kMinimumWindow) + " and " +
                         suite::format_duration(kMaximumWindow) + ", or 'cumulative'");
        config->window = *parsed.value;
    }
    config->window_set = true;
    return nullptr;
}

const char* set_slow_start(cmd_parms* cmd, void* dir_config, const char* arg) {
    DirectiveConfig* config = target_config(cmd, dir_config);
    if (!strcasecmp(arg, "off")) {
        config->slow_start = nanoseconds{0};
    } else {
        auto parsed = suite::parse_duration(arg, std::chrono::seconds(1));
        if (!parsed) return suite::directive_error(cmd, parsed.error);
        if (*parsed.value > kMaximumSlowStart)
            return suite::directive_error(cmd, "slow start longer than " +
                                                   suite::format_duration(kMaximumSlowStart));
        config->slow_start = *parsed.value;
    }
    config->slow_start_set = true;
    return nullptr;
}

const command_rec directives[] = {
    AP_INIT_TAKE1("BalancerTrafficWindow", reinterpret_cast<cmd_func>(set_window), nullptr,
                  RSRC_CONF | ACCESS_CONF,
                  "Decay time constant of per-member traffic (e.g. 10s), or 'cumulative'"),
    AP_INIT_TAKE1("BalancerTrafficSlowStart", reinterpret_cast<cmd_func>(set_slow_start), nullptr,
                  RSRC_CONF | ACCESS_CONF,
                  "Weight ramp for new or recovered members (e.g. 5s), or 'off'"),
    {nullptr, {nullptr}, nullptr, 0, RAW_ARGS, nullptr}};

// Every module is loaded by now, whatever order the LoadModule lines came in.
int pre_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*) {
    return balancer_traffic_hook_into_proxy(pconf, nullptr) ? OK : HTTP_INTERNAL_SERVER_ERROR;
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) {
    return balancer_traffic_bind_balancers(pconf, s);
}

int status_handler(request_rec* r) {
    if (!r->handler || strcmp(r->handler, "balancer-traffic-status") != 0) return DECLINED;
    return balancer_traffic_status_handler(r);
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
    STANDARD20_MODULE_STUFF,
    balancer_traffic::create_dir_config,
    balancer_traffic::merge_config,
    balancer_traffic::create_server_config,
    balancer_traffic::merge_config,
    balancer_traffic::directives,
    balancer_traffic::register_hooks,
    AP_MODULE_FLAG_NONE};
}
