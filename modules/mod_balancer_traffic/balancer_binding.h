// The adapter's per-balancer record: what ties an httpd proxy_balancer to its region of shared
// state. Created in post_config, hung on balancer->context (the field mod_proxy reserves for the
// lbmethod), inherited by every child.
#pragma once

#include <httpd.h>
extern "C" {
#include <mod_proxy.h>
}

#include "core/member_state.h"
#include "core/scheduler_config.h"
#include "core/state_store.h"

namespace balancer_traffic {

enum class Method : std::uint32_t { kByTraffic = 1, kByRequests = 2, kByLatency = 3 };

struct BalancerBinding;

// What a request carries in its request_config slot between pick and completion: one anchor per
// member slot, made up front, so recording a pick allocates nothing.
struct PickTicket {
    BalancerBinding* binding;
    std::uint32_t slot;
};

struct BalancerBinding {
    static constexpr std::uint64_t kMagic = 0x62696e64696e6731ULL;
    std::uint64_t magic;
    proxy_balancer* balancer;
    Region* region;
    SchedulerConfig config;
    std::uint32_t capacity;
    MemberInput* inputs;  // scratch, used only under region->mutex
    PickTicket* tickets;  // capacity entries
};

// The binding of `balancer`, or nullptr if post_config did not bind it.
inline BalancerBinding* binding_of(proxy_balancer* balancer) {
    auto* binding = static_cast<BalancerBinding*>(balancer ? balancer->context : nullptr);
    return binding && binding->magic == BalancerBinding::kMagic ? binding : nullptr;
}

// The name balancer-manager shows for a worker.
inline const char* member_name(const proxy_worker* worker) {
    return worker->s->name_ex[0] ? worker->s->name_ex : worker->s->name;
}

// Reads what the schedulers need to know about a worker from its shared record.
void read_member(proxy_worker* worker, MemberInput* out);

// Reads all of the balancer's workers (at most binding->capacity) into binding->inputs; retries
// workers in error whose retry interval elapsed, as the stock methods do. Returns the count.
std::size_t read_members(BalancerBinding* binding, server_rec* s, bool retry_errored);

}  // namespace balancer_traffic

extern "C" {
extern module AP_MODULE_DECLARE_DATA balancer_traffic_module;
}

// mod_proxy's per-server configuration. mod_proxy is looked up at run time, not linked against:
// Debian's a2enmod loads modules in file-name order, so balancer_traffic.load comes before
// proxy.load and a link-time reference to mod_proxy would fail to resolve.
proxy_server_conf* proxy_config_of(server_rec* s);

// The lbmethod providers and hooks, registered by the module record (lbmethod_glue.cpp).
void balancer_traffic_register_lbmethods(apr_pool_t* p);
// Hooks into mod_proxy once every module is loaded (pre_config); false if it is missing.
// Also (re)registers the lbmethod providers, so they win over stock ones loaded later.
bool balancer_traffic_hook_into_proxy(apr_pool_t* pconf, server_rec* s);
int balancer_traffic_bind_balancers(apr_pool_t* pconf, server_rec* s);
// The status handler (status_handler.cpp).
int balancer_traffic_status_handler(request_rec* r);
