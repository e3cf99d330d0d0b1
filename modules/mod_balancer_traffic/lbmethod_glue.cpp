// The lbmethod providers: mod_proxy_balancer calls finder() for every request (under its own
// per-process thread lock only); we take the balancer's cross-process lock in shared memory,
// read the workers' shared records, and let the core choose.
// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <ap_provider.h>
#include <apr_optional.h>
#include <dlfcn.h>
#include <http_log.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "../common/duration.h"
#include "../common/httpd_glue.h"
#include "../common/monotonic_clock.h"
#include "balancer_binding.h"
#include "core/latency_estimate.h"
#include "core/latency_scheduler.h"
#include "core/member_bookkeeping.h"
#include "core/request_scheduler.h"
#include "core/share_history.h"
#include "core/traffic_scheduler.h"
#include "directive_config.h"

APLOG_USE_MODULE(balancer_traffic);

namespace balancer_traffic {
namespace {

constexpr const char* kStoreKey = "balancer_traffic::state_store";
// Room for balancers that grow across graceful restarts before a new segment is needed.
constexpr std::size_t kStoreHeadroom = 4;
constexpr std::size_t kMinimumStoreBytes = 1 << 20;

APR_OPTIONAL_FN_TYPE(ap_proxy_retry_worker) * retry_worker = nullptr;

std::uint64_t identity_of(const proxy_worker* worker) {
    return (std::uint64_t{worker->s->hash.def} << 32) | worker->s->hash.fnv;
}

std::uint64_t load_counter(const apr_off_t* counter) {
    // mod_proxy updates these with plain += in other threads; an atomic load reads a whole value.
    apr_off_t v = __atomic_load_n(counter, __ATOMIC_RELAXED);
    return v > 0 ? static_cast<std::uint64_t>(v) : 0;
}

BalancerView view_of(BalancerBinding* binding) {
    return binding->region->view();
}

// bylatency's clock on one request: started at the pick, stopped by the first brigade of the
// response that reaches the request's output filters. mod_proxy_http passes the response on
// once it has read the backend's status line and headers (and whatever body came with them),
// so this is the time to first byte as the client would see it from here: connection setup or
// reuse, sending the request, the backend's think time. It is per request, not per connection,
// so kept-alive backend connections are measured like fresh ones. AP_FTYPE_RESOURCE puts the
// filter ahead of any content filter that might hold the response back.
constexpr const char* kLatencyFilterName = "BALANCER_TRAFFIC_LATENCY";
ap_filter_rec_t* latency_filter = nullptr;

struct LatencyClock {
    BalancerBinding* binding;
    std::uint32_t slot;
    MonoNanos picked;
    bool running;
};

enum class ClockStop { kAnswered, kFailed, kNoAnswer };

// Stops the clock once: an answer (or a failed attempt) is a sample; a request over without
// either only stops waiting.
void stop_clock(LatencyClock& clock, MonoNanos now, ClockStop how) {
    if (!clock.running) return;
    clock.running = false;
    BalancerBinding* binding = clock.binding;
    proxy_balancer* balancer = binding->balancer;
    if (clock.slot >= static_cast<std::uint32_t>(balancer->workers->nelts)) return;
    MemberInput input;
    read_member(APR_ARRAY_IDX(balancer->workers, clock.slot, proxy_worker*), &input);
    suite::SharedLock lock(binding->region->mutex);
    MemberState& st = binding->region->members()[clock.slot];
    if (!(st.flags & kKnown) || st.identity != input.identity) return;  // slot reused meanwhile
    if (how == ClockStop::kNoAnswer)
        forget_awaiting(st, now);
    else
        record_latency(binding->config, st, now - clock.picked, now, how == ClockStop::kFailed);
}

apr_status_t latency_filter_func(ap_filter_t* f, apr_bucket_brigade* bb) {
    auto* clock = static_cast<LatencyClock*>(f->ctx);
    // A 5xx here is the backend's or mod_proxy's own (502 after a failed attempt, 504 after
    // ProxyTimeout): it may show a member is slow, never that it is fast.
    if (clock)
        stop_clock(*clock, suite::monotonic_now(),
                   f->r->status >= 500 ? ClockStop::kFailed : ClockStop::kAnswered);
    ap_remove_output_filter(f);
    return ap_pass_brigade(f->next, bb);
}

LatencyClock* clock_of(request_rec* r) {
    for (ap_filter_t* f = r->output_filters; f; f = f->next)
        if (f->frec == latency_filter) return static_cast<LatencyClock*>(f->ctx);
    return nullptr;
}

// Stops a clock still running when its pick is released: the request comes back for another
// member after a failed attempt (`how` kFailed), or it is over and no response went through the
// filter (kNoAnswer: a client gone, a handler that gave up).
void stop_running_clock(request_rec* r, MonoNanos now, ClockStop how) {
    if (!latency_filter) return;
    if (LatencyClock* clock = clock_of(r)) stop_clock(*clock, now, how);
}

// Starts the clock for a pick (stop_running_clock() has stopped any earlier one).
void start_clock(request_rec* r, BalancerBinding* binding, std::uint32_t slot, MonoNanos now) {
    if (!latency_filter) return;
    LatencyClock* clock = clock_of(r);
    if (!clock) {
        clock = static_cast<LatencyClock*>(apr_palloc(r->pool, sizeof(LatencyClock)));
        ap_add_output_filter_handle(latency_filter, clock, r, r->connection);
    }
    *clock = LatencyClock{binding, slot, now, true};
}

// A pick is released when the request is over (post_request) or when the same request asks for
// another member after a failed attempt.
void release_pick(request_rec* r, MonoNanos now) {
    auto* ticket =
        static_cast<PickTicket*>(ap_get_module_config(r->request_config, &balancer_traffic_module));
    if (!ticket) return;
    ap_set_module_config(r->request_config, &balancer_traffic_module, nullptr);
    BalancerBinding* binding = ticket->binding;
    proxy_balancer* balancer = binding->balancer;
    if (ticket->slot >= static_cast<std::uint32_t>(balancer->workers->nelts)) return;
    MemberInput input;
    read_member(APR_ARRAY_IDX(balancer->workers, ticket->slot, proxy_worker*), &input);
    suite::SharedLock lock(binding->region->mutex);
    complete_request(binding->config, view_of(binding), ticket->slot, input, now);
}

template <Method kMethod>
proxy_worker* find_best(proxy_balancer* balancer, request_rec* r) {
    BalancerBinding* binding = binding_of(balancer);
    if (!binding) {
        ap_log_rerror(APLOG_MARK, APLOG_ERR, 0, r,
                      "%s: balancer has no scheduling state (see the startup log)",
                      balancer->s->name);
        return nullptr;
    }
    const MonoNanos now = suite::monotonic_now();
    stop_running_clock(r, now, ClockStop::kFailed);
    release_pick(r, now);
    int slot;
    {
        suite::SharedLock lock(binding->region->mutex);
        const std::size_t count = read_members(binding, r->server, true);
        binding->region->method = static_cast<std::uint32_t>(kMethod);
        if (kMethod == Method::kByTraffic)
            slot = TrafficScheduler::pick(binding->config, view_of(binding), binding->inputs, count,
                                          now);
        else if (kMethod == Method::kByLatency)
            slot = LatencyScheduler::pick(binding->config, view_of(binding), binding->inputs, count,
                                          now);
        else
            slot = RequestScheduler::pick(binding->config, view_of(binding), binding->inputs, count,
                                          now);
        sample_history(binding->region->history, binding->region->members(), count, now);
    }
    if (slot < 0) return nullptr;
    ap_set_module_config(r->request_config, &balancer_traffic_module, &binding->tickets[slot]);
    if (kMethod == Method::kByLatency)
        start_clock(r, binding, static_cast<std::uint32_t>(slot), now);
    return APR_ARRAY_IDX(balancer->workers, slot, proxy_worker*);
}

// balancer-manager's reset, or a worker list that changed under the balancer: forget what was
// learned; the next pick adopts every member afresh.
apr_status_t reset(proxy_balancer* balancer, server_rec*) {
    BalancerBinding* binding = binding_of(balancer);
    if (!binding) return APR_SUCCESS;
    suite::SharedLock lock(binding->region->mutex);
    std::memset(binding->region->members(), 0,
                std::size_t{binding->capacity} * sizeof(MemberState));
    binding->region->header.member_count = 0;
    return APR_SUCCESS;
}

apr_status_t age(proxy_balancer*, server_rec*) {
    return APR_SUCCESS;
}

// A sticky session chose `elected` without asking the finder: count it as that member's turn.
template <Method kMethod>
apr_status_t update_lbstatus(proxy_balancer* balancer, proxy_worker* elected, server_rec* s) {
    BalancerBinding* binding = binding_of(balancer);
    if (!binding) return APR_SUCCESS;
    suite::SharedLock lock(binding->region->mutex);
    const std::size_t count = read_members(binding, s, false);
    for (std::size_t slot = 0; slot < count; ++slot) {
        if (APR_ARRAY_IDX(balancer->workers, slot, proxy_worker*) != elected) continue;
        const MonoNanos now = suite::monotonic_now();
        if (kMethod == Method::kByTraffic)
            TrafficScheduler::charge(binding->config, view_of(binding), slot, count, now, false);
        else if (kMethod == Method::kByLatency)
            LatencyScheduler::charge(binding->config, view_of(binding), slot, now);
        else
            RequestScheduler::charge(binding->config, view_of(binding), binding->inputs, slot,
                                     count, now);
        break;
    }
    return APR_SUCCESS;
}

proxy_balancer_method bytraffic_method = {"bytraffic", &find_best<Method::kByTraffic>,
                                          nullptr,     &reset,
                                          &age,        &update_lbstatus<Method::kByTraffic>};
proxy_balancer_method byrequests_method = {"byrequests", &find_best<Method::kByRequests>,
                                           nullptr,      &reset,
                                           &age,         &update_lbstatus<Method::kByRequests>};
proxy_balancer_method bylatency_method = {"bylatency", &find_best<Method::kByLatency>,
                                          nullptr,     &reset,
                                          &age,        &update_lbstatus<Method::kByLatency>};

bool is_ours(const proxy_balancer_method* method) {
    return method == &bytraffic_method || method == &byrequests_method ||
           method == &bylatency_method;
}

int post_request(proxy_worker*, proxy_balancer*, request_rec* r, proxy_server_conf*) {
    const MonoNanos now = suite::monotonic_now();
    stop_running_clock(r, now, ClockStop::kNoAnswer);
    release_pick(r, now);
    return DECLINED;  // RUN_FIRST hook: let mod_proxy_balancer's own post_request run too
}

// When the stock mod_lbmethod_* is loaded as well, whichever registered last owns the name.
void report_provider_owner(server_rec* s, const char* name, const proxy_balancer_method* ours,
                           const char* stock_module) {
    const void* in_effect = ap_lookup_provider(PROXY_LBMETHOD, name, "0");
    const bool stock_loaded = ap_find_linked_module(stock_module) != nullptr;
    if (in_effect == ours) {
        if (stock_loaded)
            ap_log_error(APLOG_MARK, APLOG_NOTICE, 0, s,
                         "lbmethod '%s': %s is loaded too; mod_balancer_traffic's '%s' is in "
                         "effect (it was registered last)",
                         name, stock_module, name);
    } else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s,
                     "lbmethod '%s': the provider registered by %s is in effect, not "
                     "mod_balancer_traffic's; load mod_balancer_traffic after it, or drop it",
                     name, stock_loaded ? stock_module : "another module");
    }
}

struct BalancerRef {
    server_rec* server;
    proxy_balancer* balancer;
};

DirectiveConfig config_for(server_rec* s, proxy_balancer* balancer) {
    const auto* server = static_cast<ServerConfig*>(
        ap_get_module_config(s->module_config, &balancer_traffic_module));
    DirectiveConfig merged = server->defaults;
    for (int i = 0; i < server->section_count; ++i)
        if (!strcasecmp(server->sections[i].balancer, balancer->s->name))
            merged = merge(merged, server->sections[i].config);
    return merged;
}

std::uint32_t capacity_of(proxy_balancer* balancer) {
    int capacity = std::max(balancer->max_workers, balancer->workers->nelts);
    return static_cast<std::uint32_t>(std::max(capacity, 1));
}

}  // namespace

void read_member(proxy_worker* worker, MemberInput* out) {
    const proxy_worker_shared* s = worker->s;
    const unsigned status = s->status;
    out->identity = identity_of(worker);
    out->byte_counter = load_counter(&s->read) + load_counter(&s->transferred);
    out->loadfactor = s->lbfactor > 0 ? s->lbfactor : 1;
    out->lbset = s->lbset;
    out->role = (status & PROXY_WORKER_HOT_SPARE)     ? MemberRole::kSpare
                : (status & PROXY_WORKER_HOT_STANDBY) ? MemberRole::kStandby
                                                      : MemberRole::kRegular;
    out->usable = PROXY_WORKER_IS_USABLE(worker);
    out->draining = status & PROXY_WORKER_DRAIN;
}

std::size_t read_members(BalancerBinding* binding, server_rec* s, bool retry_errored) {
    proxy_balancer* balancer = binding->balancer;
    const std::size_t count = std::min<std::size_t>(balancer->workers->nelts, binding->capacity);
    for (std::size_t i = 0; i < count; ++i) {
        proxy_worker* worker = APR_ARRAY_IDX(balancer->workers, i, proxy_worker*);
        if (retry_errored && retry_worker && !PROXY_WORKER_IS_USABLE(worker) &&
            !PROXY_WORKER_IS_DRAINING(worker))
            retry_worker("BALANCER", worker, s);
        read_member(worker, &binding->inputs[i]);
    }
    return count;
}

}  // namespace balancer_traffic

using namespace balancer_traffic;

void balancer_traffic_register_lbmethods(apr_pool_t* p) {
    ap_register_provider(p, PROXY_LBMETHOD, "bytraffic", "0", &bytraffic_method);
    ap_register_provider(p, PROXY_LBMETHOD, "byrequests", "0", &byrequests_method);
    ap_register_provider(p, PROXY_LBMETHOD, "bylatency", "0", &bylatency_method);
    latency_filter = ap_register_output_filter(kLatencyFilterName, latency_filter_func, nullptr,
                                               AP_FTYPE_RESOURCE);
}

// mod_proxy's module record for this configuration generation (DSOs are reloaded, and may move,
// at every restart), set in pre_config.
static module* proxy_module_record = nullptr;

proxy_server_conf* proxy_config_of(server_rec* s) {
    return proxy_module_record ? static_cast<proxy_server_conf*>(
                                     ap_get_module_config(s->module_config, proxy_module_record))
                               : nullptr;
}

bool balancer_traffic_hook_into_proxy(apr_pool_t* pconf, server_rec* s) {
    // Registered again now that every module is loaded: a stock mod_lbmethod_* loaded after us
    // (as a2enmod's file-name order does) would otherwise own the names. Balancers look their
    // lbmethod up later, while the configuration tree is processed.
    balancer_traffic_register_lbmethods(pconf);
    using HookPostRequest =
        void (*)(proxy_HOOK_post_request_t*, const char* const*, const char* const*, int);
    auto hook = reinterpret_cast<HookPostRequest>(dlsym(RTLD_DEFAULT, "proxy_hook_post_request"));
    proxy_module_record = ap_find_linked_module("mod_proxy.c");
    if (!hook || !proxy_module_record) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s,
                     "mod_balancer_traffic needs mod_proxy and mod_proxy_balancer: "
                     "LoadModule proxy_module and proxy_balancer_module (a2enmod proxy_balancer)");
        return false;
    }
    // Before mod_proxy_balancer's post_request, which ends the RUN_FIRST chain.
    hook(post_request, nullptr, nullptr, APR_HOOK_REALLY_FIRST);
    return true;
}

namespace {

// Every balancer of every virtual host, with its member capacity.
std::vector<BalancerRef> collect_balancers(server_rec* main_server,
                                           std::vector<std::uint32_t>* capacities) {
    std::vector<BalancerRef> balancers;
    for (server_rec* s = main_server; s; s = s->next) {
        proxy_server_conf* conf = proxy_config_of(s);
        if (!conf || !conf->balancers) continue;
        auto* list = reinterpret_cast<proxy_balancer*>(conf->balancers->elts);
        for (int i = 0; i < conf->balancers->nelts; ++i) {
            balancers.push_back({s, &list[i]});
            capacities->push_back(capacity_of(&list[i]));
        }
    }
    return balancers;
}

// The shared state store, created or found again after a graceful restart (with the previous
// generation's store, when the segment was made anew, to seed the new regions from).
int open_store(server_rec* main_server, const std::vector<std::uint32_t>& capacities,
               StateStore** store, StateStore** previous, bool* created) {
    const std::size_t needed = StateStore::bytes_for(capacities.data(), capacities.size());
    suite::PersistentSegment segment;
    apr_status_t rv = suite::persistent_segment(
        main_server, kStoreKey, std::max(kMinimumStoreBytes, needed * kStoreHeadroom), &segment);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, rv, main_server,
                     "mod_balancer_traffic: cannot create %zu bytes of shared memory", needed);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    *created = segment.created;
    *store = segment.created ? StateStore::format(segment.base, segment.size)
                             : StateStore::attach(segment.base, segment.size);
    *previous = segment.previous_base
                    ? StateStore::attach(segment.previous_base, segment.previous_size)
                    : nullptr;
    if (!*store) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_server,
                     "mod_balancer_traffic: cannot lay out the shared state store");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if ((*store)->bytes_free() < needed) {
        // Grown past the headroom across graceful restarts: a full restart sizes it anew.
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, main_server,
                     "mod_balancer_traffic: shared state is full after configuration growth; "
                     "restart httpd fully (apachectl restart) to resize it");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    return OK;
}

// Gives one balancer its region of the store and its binding (balancer->context).
int bind_balancer(apr_pool_t* pconf, const BalancerRef& ref, StateStore* store,
                  StateStore* previous, bool store_created, MonoNanos now) {
    proxy_balancer* balancer = ref.balancer;
    const std::uint32_t capacity = capacity_of(balancer);
    Region* region = store->region_for(balancer->s->sname, capacity, now);
    if (!region) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, ref.server,
                     "mod_balancer_traffic: no shared state for %s", balancer->s->name);
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    if (previous && store_created) {
        if (Region* old = previous->latest(balancer->s->sname)) seed_region(old, region);
    }
    auto* binding = static_cast<BalancerBinding*>(apr_pcalloc(pconf, sizeof(BalancerBinding)));
    binding->magic = BalancerBinding::kMagic;
    binding->balancer = balancer;
    binding->region = region;
    binding->config = to_scheduler_config(config_for(ref.server, balancer));
    binding->capacity = capacity;
    binding->inputs = static_cast<MemberInput*>(apr_pcalloc(pconf, capacity * sizeof(MemberInput)));
    binding->tickets = static_cast<PickTicket*>(apr_pcalloc(pconf, capacity * sizeof(PickTicket)));
    for (std::uint32_t slot = 0; slot < capacity; ++slot)
        binding->tickets[slot] = PickTicket{binding, slot};
    balancer->context = binding;
    if (is_ours(balancer->lbmethod))
        ap_log_error(APLOG_MARK, APLOG_INFO, 0, ref.server,
                     "%s: lbmethod %s (mod_balancer_traffic), window %s, slow start %s, "
                     "latency decay %s, %u member slots",
                     balancer->s->name, balancer->lbmethod->name,
                     binding->config.cumulative()
                         ? "cumulative"
                         : suite::format_duration(binding->config.window).c_str(),
                     binding->config.slow_start.count()
                         ? suite::format_duration(binding->config.slow_start).c_str()
                         : "off",
                     suite::format_duration(binding->config.latency_decay).c_str(), capacity);
    return OK;
}

}  // namespace

int balancer_traffic_bind_balancers(apr_pool_t* pconf, server_rec* main_server) {
    // httpd reads its configuration twice at startup; bind only on the run that serves.
    if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
    retry_worker = APR_RETRIEVE_OPTIONAL_FN(ap_proxy_retry_worker);
    report_provider_owner(main_server, "bytraffic", &bytraffic_method, "mod_lbmethod_bytraffic.c");
    report_provider_owner(main_server, "byrequests", &byrequests_method,
                          "mod_lbmethod_byrequests.c");

    std::vector<std::uint32_t> capacities;
    const std::vector<BalancerRef> balancers = collect_balancers(main_server, &capacities);
    if (balancers.empty()) return OK;
    StateStore* store = nullptr;
    StateStore* previous = nullptr;
    bool created = false;
    if (int rc = open_store(main_server, capacities, &store, &previous, &created); rc != OK)
        return rc;
    const MonoNanos now = suite::monotonic_now();
    for (const BalancerRef& ref : balancers)
        if (int rc = bind_balancer(pconf, ref, store, previous, created, now); rc != OK) return rc;
    return OK;
}
