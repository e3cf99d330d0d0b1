// What the adapter files of mod_ha_heartbeat share: the per-server configuration and the status
// board in shared memory.
#pragma once

// clang-format off: httpd.h first, the other httpd headers rely on what it declares.
#include <httpd.h>
// clang-format on
#include <http_config.h>
#include <scoreboard.h>

#include "core/ha_config.h"
#include "core/status_board.h"

extern "C" module AP_MODULE_DECLARE_DATA ha_heartbeat_module;

namespace ha_heartbeat {

inline HaConfig* server_config(server_rec* s) {
    return static_cast<HaConfig*>(ap_get_module_config(s->module_config, &ha_heartbeat_module));
}

// Set in post_config in the parent; the children and the heartbeat process inherit it.
extern StatusBoard* g_board;

// Starts the heartbeat process if it is not running, and arranges for it to be restarted if it
// dies and stopped with the server. Returns an httpd status (OK or an error after logging).
int supervise_heartbeat_process(apr_pool_t* pconf, server_rec* s, const HaConfig& config);

// Called in the parent when a worker process of the current generation has started.
void note_worker_started(ap_generation_t generation);
// Called in the parent when a worker process has exited.
void note_worker_exited(ap_generation_t generation);

// Whether `local` (a connection's own address) is one of the configured service addresses.
// The index of `local` in HaConfig::service_addresses, or -1.
int service_address_index(const HaConfig& c, const apr_sockaddr_t* local);
// Whether MoveSignals::draining (a bit per service address) covers address `index`.
bool draining_address(std::uint32_t draining, int index);

// SetHandler ha-status.
int status_handler(request_rec* r);
// Draws the handover form's nonce; called in the parent when httpd starts.
void renew_handover_nonce(StatusBoard* board);

}  // namespace ha_heartbeat
