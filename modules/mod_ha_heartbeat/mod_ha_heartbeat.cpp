// mod_ha_heartbeat: the httpd module record, directives and hook registration. The election,
// wire format and configuration types live in core/ and know nothing of httpd; the heartbeat
// loop runs in its own process (process_supervisor.cpp).
// clang-format off: httpd.h first, the other httpd headers rely on what it declares.
#include <httpd.h>
// clang-format on
#include <apr_strings.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <mpm_common.h>
#include <netinet/in.h>
#include <unistd.h>
#include <unixd.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "../common/directive_glue.h"
#include "../common/httpd_glue.h"
#include "core/address_groups.h"
#include "core/boot_epoch.h"
#include "module_state.h"
#include "quiet_connection_closer.h"
#include "stop_signals.h"

APLOG_USE_MODULE(ha_heartbeat);

namespace ha_heartbeat {

StatusBoard* g_board = nullptr;

namespace {

constexpr const char* kBoardKey = "ha_heartbeat_board";
constexpr const char* kTrackFilePrefix = "file:";
constexpr int kMaxTrackWeight = kMaxPriority;

// Every HA directive is global: the cluster is a property of the machine, not of a vhost.
const char* global_config(cmd_parms* cmd, HaConfig** config) {
    if (const char* error = ap_check_cmd_context(cmd, GLOBAL_ONLY)) return error;
    *config = server_config(cmd->server);
    return nullptr;
}

bool parse_int(const char* text, long min, long max, long* out) {
    char* end = nullptr;
    errno = 0;
    const long v = std::strtol(text, &end, 10);
    if (errno || end == text || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

const char* set_enabled(cmd_parms* cmd, void*, int on) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        c->enabled = on != 0;
        return nullptr;
    });
}

const char* set_node_name(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        const std::size_t n = std::strlen(arg);
        if (n == 0 || n >= kMaxNodeNameBytes)
            return suite::directive_error(
                cmd, "node name must be 1.." + std::to_string(kMaxNodeNameBytes - 1) + " bytes");
        c->node_name = arg;
        return nullptr;
    });
}

const char* set_priority(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        long v;
        if (!parse_int(arg, kMinPriority, kMaxPriority, &v))
            return suite::directive_error(cmd, "priority must be an integer " +
                                                   std::to_string(kMinPriority) + ".." +
                                                   std::to_string(kMaxPriority));
        c->priority = static_cast<int>(v);
        return nullptr;
    });
}

const char* set_cluster_id(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        long v;
        if (!parse_int(arg, 1, 0xffffffffL, &v))
            return suite::directive_error(cmd, "cluster id must be an integer 1..4294967295");
        c->cluster_id = static_cast<std::uint32_t>(v);
        return nullptr;
    });
}

const char* set_listen(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        auto e = parse_endpoint(arg, kDefaultPort);
        if (!e) return suite::directive_error(cmd, e.error);
        c->listen = *e.value;
        c->listen_set = true;
        return nullptr;
    });
}

const char* add_peer(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        auto e = parse_endpoint(arg, kDefaultPort);
        if (!e) return suite::directive_error(cmd, e.error);
        c->peers.push_back(*e.value);
        return nullptr;
    });
}

// A bare number in an HA duration directive is milliseconds (HAInterval 100 is 100 ms).
suite::DurationLimits between(nanoseconds minimum, nanoseconds maximum,
                              nanoseconds bare_unit = std::chrono::milliseconds(1)) {
    return {minimum, maximum, bare_unit, nullptr};
}

const char* set_interval(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        return suite::set_duration(cmd, arg, between(kMinInterval, kMaxInterval), &c->interval);
    });
}

const char* set_dead_interval(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        return suite::set_duration(cmd, arg,
                                   between(2 * kMinInterval, kMaxInterval * kDefaultDeadIntervals),
                                   &c->dead_interval);
    });
}

const char* set_preempt(cmd_parms* cmd, void*, int on) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        c->preempt = on != 0;
        return nullptr;
    });
}

const char* set_preempt_delay(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        return suite::set_duration(cmd, arg, between(nanoseconds{0}, std::chrono::hours(1)),
                                   &c->preempt_delay);
    });
}

// HAServiceAddress <address>/<prefix> <interface> [group=<name>] [prefer=<node>,...]
const char* add_service_address(cmd_parms* cmd, void*, int argc, char* const argv[]) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        if (argc < 2)
            return suite::directive_error(
                cmd, "expected <address>/<prefix> <interface> [group=<name>] [prefer=<node>,...]");
        auto a = parse_service_address(argv[0], argv[1]);
        if (!a) return suite::directive_error(cmd, a.error);
        for (int i = 2; i < argc; ++i) {
            const std::string err = apply_service_address_option(argv[i], &*a.value);
            if (!err.empty()) return suite::directive_error(cmd, err);
        }
        c->service_addresses.push_back(*a.value);
        return nullptr;
    });
}

const char* set_secret_file(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        const char* path = ap_server_root_relative(cmd->pool, arg);
        if (!path) return suite::directive_error(cmd, std::string("bad path '") + arg + "'");
        // mod_docsync's unprivileged check of a synced configuration cannot read the key.
        if (suite::unreadable_in_unprivileged_check(path)) {
            c->secret_file = path;
            return nullptr;
        }
        // Read here only to refuse a bad key at startup; the buffer is wiped when `key` goes. The
        // heartbeat process reads the file itself, so httpd's processes never hold the key.
        auto key = read_secret_file(path);
        if (!key) return suite::directive_error(cmd, key.error);
        c->secret_file = path;
        return nullptr;
    });
}

const char* set_notify(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        if (!*arg) return suite::directive_error(cmd, "empty command");
        c->notify_command = arg;
        return nullptr;
    });
}

const char* add_track(cmd_parms* cmd, void*, const char* target, const char* weight) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        HealthTrack t;
        const std::size_t prefix = std::strlen(kTrackFilePrefix);
        if (std::strncmp(target, kTrackFilePrefix, prefix) == 0) {
            t.kind = HealthTrack::Kind::kFile;
            const char* path = ap_server_root_relative(cmd->pool, target + prefix);
            if (!path || !*(target + prefix))
                return suite::directive_error(cmd, "file: needs a path");
            t.target = path;
        } else {
            if (!*target) return suite::directive_error(cmd, "empty command");
            t.target = target;
        }
        if (weight) {
            long w;
            if (!parse_int(weight, 1, kMaxTrackWeight, &w))
                return suite::directive_error(cmd, "weight must be 1.." +
                                                       std::to_string(kMaxTrackWeight) +
                                                       " (leave it out to go to FAULT on failure)");
            t.weight = static_cast<int>(w);
        }
        c->tracks.push_back(t);
        return nullptr;
    });
}

const char* set_track_interval(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        return suite::set_duration(cmd, arg, between(kMinInterval, std::chrono::minutes(10)),
                                   &c->track_interval);
    });
}

const char* set_track_balancers(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        long w;
        if (!strcasecmp(arg, "off")) {
            c->track_balancers = false;
        } else if (!strcasecmp(arg, "fault")) {
            c->track_balancers = true;
            c->balancer_weight = 0;
        } else if (parse_int(arg, 1, kMaxTrackWeight, &w)) {
            c->track_balancers = true;
            c->balancer_weight = static_cast<int>(w);
        } else {
            return suite::directive_error(
                cmd, "expected off, fault or a weight 1.." + std::to_string(kMaxTrackWeight));
        }
        return nullptr;
    });
}

const char* set_gratuitous_arp(cmd_parms* cmd, void*, const char* count, const char* refresh) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        long n;
        if (!parse_int(count, 1, kMaxGratuitousArpCount, &n))
            return suite::directive_error(
                cmd, "count must be 1.." + std::to_string(kMaxGratuitousArpCount));
        c->gratuitous_arp_count = static_cast<int>(n);
        if (refresh) {
            if (!strcasecmp(refresh, "off")) {
                c->gratuitous_arp_refresh = nanoseconds{0};
                return nullptr;
            }
            return suite::set_duration(cmd, refresh,
                                       between(std::chrono::seconds(1), std::chrono::hours(1)),
                                       &c->gratuitous_arp_refresh);
        }
        return nullptr;
    });
}

const char* set_address_lifetime(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        nanoseconds d;
        if (const char* err = suite::set_duration(
                cmd, arg,
                between(kMinAddressLifetime, kMaxAddressLifetime, std::chrono::seconds(1)), &d))
            return err;
        if (d % std::chrono::seconds(1) != nanoseconds{0})
            return suite::directive_error(cmd, "kernel address lifetimes are whole seconds");
        c->address_lifetime = std::chrono::duration_cast<std::chrono::seconds>(d);
        return nullptr;
    });
}

const char* set_state_file(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        const char* path = ap_server_root_relative(cmd->pool, arg);
        if (!path) return suite::directive_error(cmd, std::string("bad path '") + arg + "'");
        c->epoch_file = path;
        return nullptr;
    });
}

const char* set_drain_timeout(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        if (!strcasecmp(arg, "off")) {
            c->drain_timeout = nanoseconds{0};
            return nullptr;
        }
        return suite::set_duration(
            cmd, arg, between(std::chrono::milliseconds(1), kMaxDrainTimeout), &c->drain_timeout);
    });
}

const char* set_realtime(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        long v;
        if (!strcasecmp(arg, "off")) {
            c->realtime_priority = 0;
        } else if (parse_int(arg, 1, kMaxRealtimePriority, &v)) {
            c->realtime_priority = static_cast<int>(v);
        } else {
            return suite::directive_error(cmd, "expected off or a SCHED_RR priority 1.." +
                                                   std::to_string(kMaxRealtimePriority));
        }
        return nullptr;
    });
}

const char* set_user(cmd_parms* cmd, void*, const char* arg) {
    return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* {
        c->user = arg;
        return nullptr;
    });
}

#define TAKE1(name, fn, help) \
    AP_INIT_TAKE1(name, reinterpret_cast<cmd_func>(fn), nullptr, RSRC_CONF, help)
#define TAKE12(name, fn, help) \
    AP_INIT_TAKE12(name, reinterpret_cast<cmd_func>(fn), nullptr, RSRC_CONF, help)
#define FLAG(name, fn, help) \
    AP_INIT_FLAG(name, reinterpret_cast<cmd_func>(fn), nullptr, RSRC_CONF, help)

const command_rec directives[] = {
    FLAG("HAHeartbeat", set_enabled, "On to take part in the HA cluster"),
    TAKE1("HANodeName", set_node_name, "This node's name (unique in the cluster)"),
    TAKE1("HAPriority", set_priority, "Election priority 1..254, higher wins"),
    TAKE1("HAClusterId", set_cluster_id, "Cluster id carried in every heartbeat (default 1)"),
    TAKE1("HAListen", set_listen, "UDP address[:port] heartbeats are received on (port 694)"),
    TAKE1("HAPeer", add_peer, "A peer's address[:port]; repeat for each peer"),
    TAKE1("HAInterval", set_interval, "Heartbeat interval (default 100ms)"),
    TAKE1("HADeadInterval", set_dead_interval,
          "Silence after which a peer is dead (default 3 intervals), plus a priority skew"),
    AP_INIT_TAKE_ARGV("HAServiceAddress", reinterpret_cast<cmd_func>(add_service_address), nullptr,
                      RSRC_CONF,
                      "<address>/<prefix> <interface> [group=<name>] [prefer=<node>,...]: an "
                      "address held by one node; repeatable, spread over the nodes"),
    TAKE1("HASecretFile", set_secret_file, "File with the shared HMAC key (mode 0600)"),
    FLAG("HAPreempt", set_preempt, "On: a higher-priority node takes the master role back"),
    TAKE1("HAPreemptDelay", set_preempt_delay, "How long a preempting node waits first"),
    TAKE1("HANotify", set_notify, "Command run on each state change with the new state"),
    TAKE12("HATrack", add_track,
           "Health check command or file:<path>, and an optional priority weight"),
    TAKE1("HATrackInterval", set_track_interval, "How often HATrack checks run (default 1s)"),
    TAKE1("HATrackBalancers", set_track_balancers,
          "While a proxy balancer has no usable member: off, fault, or lower priority by <weight>"),
    TAKE12("HAGratuitousARP", set_gratuitous_arp,
           "Announcements after a takeover (default 5) and an optional refresh period or off"),
    TAKE1("HAAddressLifetime", set_address_lifetime,
          "Kernel lifetime of the service addresses, renewed while master (default 2s)"),
    TAKE1("HAStateFile", set_state_file, "Where the boot epoch is kept"),
    TAKE1("HAUser", set_user,
          "System user the heartbeat process runs as (default haheartbeat); not httpd's User"),
    TAKE1("HARealtime", set_realtime,
          "Real-time priority (SCHED_RR 1..99, default 10) and locked memory for the heartbeat "
          "process, or off"),
    TAKE1("HADrainTimeout", set_drain_timeout,
          "Longest wait for connections to end before a planned move (default 2s), or off"),
    {nullptr, {nullptr}, nullptr, 0, RAW_ARGS, nullptr}};

apr_pool_t* g_pconf = nullptr;       // of the current generation, set in post_config
const HaConfig* g_config = nullptr;  // the main server's, valid while g_pconf lives

apr_status_t forget_config(void*) {
    g_pconf = nullptr;
    g_config = nullptr;
    return APR_SUCCESS;
}

// HAUser must exist, and must not be httpd's User: the point of it is that a request-serving
// child cannot signal, trace or read the heartbeat process.
std::string check_user(HaConfig* c) {
    std::string error = resolve_user(c);
    if (!error.empty()) return error;
    if (geteuid() == 0 && c->user_id == ap_unixd_config.user_id)
        return "HAUser: '" + c->user +
               "' is also httpd's User; give the heartbeat process a user of its own (default " +
               kDefaultHaUser + ")";
    return "";
}

int check_config(server_rec* s, bool log_to_stderr) {
    HaConfig* c = server_config(s);
    std::string error = validate(*c);
    if (error.empty() && c->enabled) error = check_user(c);
    if (error.empty()) return OK;
    if (log_to_stderr) {
        std::fprintf(stderr, "mod_ha_heartbeat: %s\n", error.c_str());
    }
    ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "%s", error.c_str());
    return HTTP_INTERNAL_SERVER_ERROR;
}

// httpd -t: report the cross-directive errors too (the hook cannot fail the test itself, so the
// message goes to stderr where -t prints its verdict).
void test_config(apr_pool_t*, server_rec* s) {
    check_config(s, true);
}

int post_config(apr_pool_t* pconf, apr_pool_t*, apr_pool_t*, server_rec* s) {
    try {
        HaConfig* c = server_config(s);
        if (c->epoch_file.empty()) c->epoch_file = kDefaultEpochFile;
        if (!c->enabled) return OK;
        if (check_config(s, false) != OK) return HTTP_INTERNAL_SERVER_ERROR;
        // The first of httpd's two configuration passes only checks; the heartbeat starts in the
        // second, in the process that will stay (after it has detached).
        if (ap_state_query(AP_SQ_MAIN_STATE) == AP_SQ_MS_CREATE_PRE_CONFIG) return OK;
        suite::PersistentSegment seg;
        const apr_status_t rv = suite::persistent_segment(s, kBoardKey, sizeof(StatusBoard), &seg);
        if (rv != APR_SUCCESS) {
            ap_log_error(APLOG_MARK, APLOG_EMERG, rv, s, "cannot create the HA status segment");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        g_board = static_cast<StatusBoard*>(seg.base);
        if (seg.created) {
            new (g_board) StatusBoard();
            g_board->data = BoardData{};
            g_board->mutex.init(
                /*priority_inheritance=*/true);  // the heartbeat process is real-time
            renew_handover_nonce(g_board);
        }
        g_pconf = pconf;
        g_config = c;
        apr_pool_cleanup_register(pconf, nullptr, forget_config, apr_pool_cleanup_null);
        return supervise_heartbeat_process(pconf, s, *c);
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_EMERG, 0, s, "mod_ha_heartbeat: %s", e.what());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

}  // namespace

int service_address_index(const HaConfig& c, const apr_sockaddr_t* local) {
    if (!local || !local->ipaddr_ptr) return -1;
    const auto* bytes = static_cast<const unsigned char*>(local->ipaddr_ptr);
    int family = local->family;
    std::size_t len = static_cast<std::size_t>(local->ipaddr_len);
    // A v4 client on a [::] listener: the local address is v4-mapped.
    if (family == AF_INET6 && len == 16 &&
        IN6_IS_ADDR_V4MAPPED(reinterpret_cast<const in6_addr*>(local->ipaddr_ptr))) {
        family = AF_INET;
        bytes += 12;
        len = 4;
    }
    for (std::size_t i = 0; i < c.service_addresses.size(); ++i) {
        const ServiceAddress& a = c.service_addresses[i];
        if (a.address.family == family && std::memcmp(a.address.bytes.data(), bytes, len) == 0)
            return static_cast<int>(i);
    }
    return -1;
}

bool draining_address(std::uint32_t draining, int index) {
    return index >= 0 && index < 32 && (draining >> index) & 1u;
}

namespace {

// While the heartbeat process drains before a planned move, every answer on a service address
// says "Connection: close": keep-alive clients finish the request under way and open a new
// connection, which reaches the successor (core/drain_policy.h). One atomic load per request
// otherwise.
int close_while_draining(request_rec* r) {
    const std::uint32_t draining =
        g_board ? g_board->moves.draining.load(std::memory_order_relaxed) : 0;
    if (draining == 0) return DECLINED;
    const HaConfig* c = server_config(r->server);
    if (c && c->enabled &&
        draining_address(draining, service_address_index(*c, r->connection->local_addr)))
        r->connection->keepalive = AP_CONN_CLOSE;
    return DECLINED;
}

int handler(request_rec* r) {
    return status_handler(r);
}

void child_status(server_rec*, pid_t, ap_generation_t generation, int, mpm_child_status state) {
    if (state == MPM_CHILD_STARTED) {
        note_worker_started(generation);
        // By now the MPM has installed its signal handlers for this generation.
        if (g_pconf && g_config) defer_stop_signals(g_pconf, *g_config);
    }
    if (state == MPM_CHILD_EXITED) note_worker_exited(generation);
}

void register_hooks(apr_pool_t*) {
    ap_hook_test_config(test_config, nullptr, nullptr, APR_HOOK_MIDDLE);
    // After mod_proxy_balancer has put its members' status in shared memory (HATrackBalancers
    // reads it from the heartbeat process forked here).
    static const char* const after[] = {"mod_proxy_balancer.c", nullptr};
    ap_hook_post_config(post_config, after, nullptr, APR_HOOK_MIDDLE);
    ap_hook_handler(handler, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_post_read_request(close_while_draining, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_child_status(child_status, nullptr, nullptr, APR_HOOK_MIDDLE);
    register_quiet_connection_hooks();
}

}  // namespace
}  // namespace ha_heartbeat

extern "C" {
module AP_MODULE_DECLARE_DATA ha_heartbeat_module = {
    SUITE_MODULE_STUFF("mod_ha_heartbeat.c"),
    nullptr,
    nullptr,
    suite::create_server_config<ha_heartbeat::HaConfig>,
    nullptr,
    ha_heartbeat::directives,
    ha_heartbeat::register_hooks,
    AP_MODULE_FLAG_NONE};
}
