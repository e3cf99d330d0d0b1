// SetHandler ha-status: node, state, priorities, peers, held addresses, transitions and drop
// counters as HTML, JSON with ?json, or metrics for a Prometheus scraper with ?metrics (or an
// OpenMetrics Accept header). POST action=handover asks the heartbeat process to hand
// the addresses to the best backup; access control is whatever <Location> gives the handler,
// and the POST must also come from the page's own form (same origin and its nonce: see
// core/handover_request.h), or it is refused with 403.
// clang-format off: httpd.h first, the other httpd headers rely on what it declares.
#include <httpd.h>
// clang-format on
#include <apr_strings.h>
#include <http_log.h>
#include <http_protocol.h>
#include <http_request.h>

#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "../common/httpd_glue.h"
#include "../common/json_string.h"
#include "../common/monotonic_clock.h"
#include "core/handover_request.h"
#include "core/status_metrics.h"
#include "core/status_report.h"
#include "module_state.h"

APLOG_USE_MODULE(ha_heartbeat);

namespace ha_heartbeat {
namespace {

constexpr apr_size_t kMaxFormBytes = 256;
// How long a handover request waits for the heartbeat process to pick it up.
constexpr std::chrono::milliseconds kHandoverAckWait{1000};
constexpr std::chrono::milliseconds kHandoverAckPoll{5};

BoardData snapshot() {
    suite::SharedLock lock(g_board->mutex);
    return g_board->data;
}

bool read_form(request_rec* r, std::string* body) {
    if (ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK) != OK) return false;
    if (!ap_should_client_block(r)) return true;
    char buf[kMaxFormBytes];
    long n;
    while ((n = ap_get_client_block(r, buf, sizeof buf)) > 0) {
        if (body->size() + static_cast<std::size_t>(n) > kMaxFormBytes) return false;
        body->append(buf, static_cast<std::size_t>(n));
    }
    return n == 0;
}

// The group named by a handover form: a group name, or one of its addresses with or without
// the prefix length ("192.0.2.10" or "192.0.2.10/24", raw or with "/" as %2F). 0: none.
std::uint32_t group_key_for(const BoardData& d, std::string_view wanted) {
    std::string name(wanted);
    const auto encoded = name.find("%2F");
    if (encoded != std::string::npos) name.replace(encoded, 3, "/");
    for (std::uint32_t i = 0; i < d.address_count && i < kMaxServiceAddresses; ++i) {
        const BoardAddress& a = d.addresses[i];
        const std::string text = a.text;
        if (name == a.group || name == text || name == text.substr(0, text.find('/')))
            return a.group_key;
    }
    return 0;
}

int handle_handover(request_rec* r) {
    std::string form;
    if (!read_form(r, &form)) return HTTP_REQUEST_ENTITY_TOO_LARGE;
    std::string_view action;
    if (!form_field(form, "action", &action) || action != "handover") return HTTP_BAD_REQUEST;
    const std::string refusal = handover_refusal(
        form, snapshot().handover_nonce, apr_table_get(r->headers_in, "Host"),
        apr_table_get(r->headers_in, "Origin"), apr_table_get(r->headers_in, "Referer"));
    if (!refusal.empty()) {
        ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                      "ha-status: handover refused from %s: %s (use the page's own button)",
                      r->useragent_ip, refusal.c_str());
        return HTTP_FORBIDDEN;
    }
    // group=<name> or address=<ip>: hand over that address group only; neither: every group
    // this node holds ("drain this node").
    std::string_view wanted;
    const bool one = form_field(form, "group", &wanted) || form_field(form, "address", &wanted);
    std::uint64_t ticket;
    {
        suite::SharedLock lock(g_board->mutex);
        std::uint32_t key = 0;
        if (one) {
            key = group_key_for(g_board->data, wanted);
            if (key == 0) {
                ap_set_content_type(r, "application/json");
                r->status = HTTP_BAD_REQUEST;
                ap_rprintf(r, "{\"handover\":%s}\n",
                           suite::json_string("no such service address or group").c_str());
                return OK;
            }
        }
        g_board->data.handover_group = key;
        ticket = ++g_board->data.handover_requests;
    }
    const auto deadline = std::chrono::steady_clock::now() + kHandoverAckWait;
    BoardData d = snapshot();
    while (d.handover_seen < ticket && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(kHandoverAckPoll);
        d = snapshot();
    }
    const bool done = d.handover_seen >= ticket;
    ap_set_content_type(r, "application/json");
    r->status = done ? HTTP_OK : HTTP_SERVICE_UNAVAILABLE;
    const std::string result = done ? d.handover_result : "the heartbeat process did not answer";
    ap_rprintf(r, "{\"handover\":%s}\n", suite::json_string(result).c_str());
    return OK;
}

}  // namespace

void renew_handover_nonce(StatusBoard* board) {
    unsigned char bytes[kHandoverNonceBytes];
    char hex[kHandoverNonceHex + 1] = {};
    // Without randomness the form cannot be protected: leave the nonce empty, which refuses
    // every handover POST (handover_refusal), rather than use a guessable one.
    if (apr_generate_random_bytes(bytes, sizeof bytes) == APR_SUCCESS)
        for (std::size_t i = 0; i < sizeof bytes; ++i)
            apr_snprintf(hex + 2 * i, 3, "%02x", bytes[i]);
    suite::SharedLock lock(board->mutex);
    copy_text(board->data.handover_nonce, hex);
}

int status_handler(request_rec* r) {
    if (!r->handler || std::strcmp(r->handler, "ha-status") != 0) return DECLINED;
    if (!g_board) return HTTP_SERVICE_UNAVAILABLE;
    try {
        if (r->method_number == M_POST) return handle_handover(r);
        if (r->method_number != M_GET) {
            r->allowed = (AP_METHOD_BIT << M_GET) | (AP_METHOD_BIT << M_POST);
            return HTTP_METHOD_NOT_ALLOWED;
        }
        const BoardData d = snapshot();
        const std::int64_t now = suite::monotonic_now();
        if (suite::answer_metrics(
                r, [&](suite::MetricsFormat format) { return render_metrics(d, now, format); }))
            return OK;
        const bool json = r->args && std::strcmp(r->args, "json") == 0;
        ap_set_content_type(r, json ? "application/json" : "text/html; charset=utf-8");
        apr_table_setn(r->headers_out, "Cache-Control", "no-store");
        if (r->header_only) return OK;
        const std::string body = json ? render_json(d, now) : render_html(d, now);
        ap_rwrite(body.data(), static_cast<int>(body.size()), r);
        return OK;
    } catch (...) {
        return HTTP_INTERNAL_SERVER_ERROR;
    }
}

}  // namespace ha_heartbeat
