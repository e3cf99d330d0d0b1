// Whether a POST action=handover to the ha-status page may act. A handover moves the service
// addresses, so a page on another site must not be able to trigger it through the browser of
// an administrator who may see ha-status (cross-site request forgery). As balancer-manager
// does, two checks, both required:
//  - same origin: the Origin header, or without one the Referer, names the host the request was
//    sent to (its Host header); a request carrying neither is refused;
//  - the nonce: the form's `nonce` field equals the random value httpd drew at its start and
//    put in the page's own form, which another site cannot read.
#pragma once

#include <string>
#include <string_view>

namespace ha_heartbeat {

// "" when the handover may go ahead, else why not (for the log line). Null headers are absent.
std::string handover_refusal(std::string_view form, std::string_view expected_nonce,
                             const char* host, const char* origin, const char* referer);

// Finds `name` in an application/x-www-form-urlencoded body and sets `value` to its raw value;
// false when absent. Not percent-decoded (the fields read here never need it).
bool form_field(std::string_view form, std::string_view name, std::string_view* value);

}  // namespace ha_heartbeat
