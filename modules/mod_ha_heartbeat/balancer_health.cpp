#include "balancer_health.h"

#include <http_config.h>
#include <mod_proxy.h>

#include <vector>

namespace ha_heartbeat {
namespace {

// The reason names at most this many balancers; enough to tell the operator where to look.
constexpr std::size_t kMaxReportedBalancers = 4;

bool has_usable_member(const proxy_balancer* balancer) {
    for (int i = 0; i < balancer->workers->nelts; ++i) {
        const proxy_worker* w = APR_ARRAY_IDX(balancer->workers, i, proxy_worker*);
        // Not PROXY_WORKER_IS_USABLE: that also wants "initialized", which a member is only
        // once a child has started, and the heartbeat starts before the children.
        if (w && w->s && !(w->s->status & PROXY_WORKER_NOT_USABLE_BITMAP)) return true;
    }
    return false;
}

}  // namespace

std::function<std::string()> balancer_check(server_rec* s) {
    // Looked up by name, so this module loads without mod_proxy.
    module* proxy = ap_find_linked_module("mod_proxy.c");
    std::vector<const proxy_balancer*> balancers;
    if (proxy) {
        for (server_rec* vs = s; vs; vs = vs->next) {
            auto* conf =
                static_cast<proxy_server_conf*>(ap_get_module_config(vs->module_config, proxy));
            if (!conf || !conf->balancers) continue;
            for (int i = 0; i < conf->balancers->nelts; ++i) {
                const auto* b = &APR_ARRAY_IDX(conf->balancers, i, proxy_balancer);
                if (b->workers && b->s) balancers.push_back(b);
            }
        }
    }
    return [balancers]() -> std::string {
        std::string problem;
        std::size_t reported = 0;
        for (const proxy_balancer* b : balancers) {
            if (has_usable_member(b)) continue;
            if (reported++ < kMaxReportedBalancers)
                problem += std::string(problem.empty() ? "" : ", ") + b->s->name;
        }
        return problem.empty() ? "" : "no usable member in " + problem;
    };
}

}  // namespace ha_heartbeat
