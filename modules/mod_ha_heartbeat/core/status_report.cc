#include "status_report.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "json_string.h"
#include "svg_chart.h"

namespace ha_heartbeat {
namespace {

constexpr double kNanosPerSecond = 1e9;

std::string json_string(const char* s) {
    return suite::json_string(s);
}

// Who holds an address, by name where the board knows one: "this node", a peer's id and
// address, or "nobody".
static std::string holder_name(const BoardData& d, std::uint32_t node_id) {
    if (node_id == 0) return "nobody";
    if (node_id == d.node_id) return std::string(d.node_name) + " (this node)";
    for (std::uint32_t i = 0; i < d.peer_count && i < kMaxPeers; ++i)
        if (d.peers[i].node_id == node_id)
            return "node " + std::to_string(node_id) + " (" + d.peers[i].address + ")";
    return "node " + std::to_string(node_id);
}

// Text from the board (node names, reasons, addresses) as HTML content.
std::string html(const char* s) {
    return suite::xml_escape(s);
}

std::string ms_text(std::int64_t ns) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", ns / 1e6);
    return buf;
}

std::string seconds_ago(std::int64_t then_ns, std::int64_t now_ns) {
    if (then_ns == 0) return "null";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.3f", (now_ns - then_ns) / kNanosPerSecond);
    return buf;
}

const char* state_text(std::uint8_t s) {
    return s <= kLastState ? state_name(static_cast<NodeState>(s)) : "UNKNOWN";
}

}  // namespace

std::string render_json(const BoardData& d, std::int64_t now_ns) {
    std::string o = "{";
    o += "\"node\":" + json_string(d.node_name);
    o += ",\"node_id\":" + std::to_string(d.node_id);
    o += ",\"state\":\"" + std::string(state_text(d.state)) + "\"";
    o += ",\"heartbeat_pid\":" + std::to_string(d.heartbeat_pid);
    o += ",\"priority\":" + std::to_string(d.configured_priority);
    o += ",\"effective_priority\":" + std::to_string(d.effective_priority);
    o += ",\"interval_ms\":" + std::to_string(d.interval_ns / 1000000);
    o += ",\"dead_interval_ms\":" + std::to_string(d.dead_interval_ns / 1000000);
    o += std::string(",\"preempt\":") + (d.preempt ? "true" : "false");
    o += ",\"boot_epoch\":" + std::to_string(d.boot_epoch);
    o += ",\"transitions\":" + std::to_string(d.transitions);
    o += ",\"last_transition_seconds_ago\":" + seconds_ago(d.last_transition_ns, now_ns);
    o += ",\"last_reason\":" + json_string(d.last_reason);
    o += ",\"sent\":" + std::to_string(d.sent);
    o += ",\"accepted\":" + std::to_string(d.accepted);
    o += ",\"dropped\":{";
    bool first = true;
    for_each_drop(d.drops, [&](const char* name, std::uint64_t v) {
        o += std::string(first ? "" : ",") + "\"" + name + "\":" + std::to_string(v);
        first = false;
    });
    o += ",\"total\":" + std::to_string(d.drops.total()) + "}";
    o += ",\"peers\":[";
    for (std::uint32_t i = 0; i < d.peer_count && i < kMaxPeers; ++i) {
        const BoardPeer& p = d.peers[i];
        o += std::string(i ? "," : "") + "{\"node_id\":" + std::to_string(p.node_id) +
             ",\"address\":" + json_string(p.address) + ",\"state\":\"" + state_text(p.state) +
             "\",\"priority\":" + std::to_string(p.priority) +
             ",\"live\":" + (p.live ? "true" : "false") +
             ",\"last_seen_seconds_ago\":" + seconds_ago(p.last_seen_ns, now_ns) +
             ",\"longest_silence_ms\":" + ms_text(p.longest_silence_ns) +
             ",\"boot_epoch\":" + std::to_string(p.boot_epoch) + "}";
    }
    o += "],\"addresses\":[";
    for (std::uint32_t i = 0; i < d.address_count && i < kMaxServiceAddresses; ++i) {
        const BoardAddress& a = d.addresses[i];
        o += std::string(i ? "," : "") + "{\"address\":" + json_string(a.text) +
             ",\"interface\":" + json_string(a.interface) +
             ",\"held\":" + (a.held ? "true" : "false") + ",\"group\":" + json_string(a.group) +
             ",\"state\":\"" + state_text(a.group_state) +
             "\",\"priority\":" + std::to_string(a.group_priority) +
             ",\"home\":" + (a.home ? "true" : "false") +
             ",\"holder_node_id\":" + std::to_string(a.holder_node_id) +
             ",\"holder\":" + json_string(holder_name(d, a.holder_node_id).c_str()) + "}";
    }
    o += "],\"handover_requests\":" + std::to_string(d.handover_requests);
    o += ",\"handover_result\":" + json_string(d.handover_result);
    o += ",\"episodes\":{\"split_brain\":" + std::to_string(d.split_brain_episodes) +
         ",\"reannouncements\":" + std::to_string(d.reannouncements) +
         ",\"rejected_datagrams\":" + std::to_string(d.rejected_episodes) + "}";
    o += ",\"timing\":{\"longest_send_gap_ms\":" + ms_text(d.longest_send_gap_ns) +
         ",\"pauses\":" + std::to_string(d.pauses) +
         ",\"longest_pause_ms\":" + ms_text(d.longest_pause_ns) + "}";
    o += ",\"updated_seconds_ago\":" + seconds_ago(d.updated_ns, now_ns);
    return o + "}\n";
}

// This node's states over the last ten minutes as colored bands (MASTER green, BACKUP blue,
// FAULT red, INIT grey), from the board's history.
static std::string render_state_timeline(const BoardData& d, std::int64_t now_ns) {
    constexpr std::int64_t kTimelineSpan = 600LL * 1'000'000'000;
    auto color_of = [](std::uint8_t state) {
        switch (static_cast<NodeState>(state)) {
            case NodeState::kMaster:
                return "#2ca02c";
            case NodeState::kBackup:
                return "#1f77b4";
            case NodeState::kFault:
                return "#d62728";
            default:
                return "#7f7f7f";
        }
    };
    std::vector<suite::TimelineSpan> spans;
    const std::uint32_t count = std::min<std::uint32_t>(d.history_count, kStateHistory);
    const std::uint32_t oldest = (d.history_next + kStateHistory - count) % kStateHistory;
    for (std::uint32_t i = 0; i < count; ++i) {
        const BoardStateChange& c = d.history[(oldest + i) % kStateHistory];
        const std::int64_t end =
            i + 1 < count ? d.history[(oldest + i + 1) % kStateHistory].time_ns : now_ns;
        spans.push_back({c.time_ns, end, state_text(c.state), color_of(c.state)});
    }
    suite::ChartFrame frame{
        now_ns, kTimelineSpan, "timeline", "state over the last ten minutes", 600, 40};
    return "<h2>State, last ten minutes</h2>\n<figure>" + suite::svg_timeline(frame, spans) +
           "<figcaption><span style=\"color:#2ca02c\">&#9632;</span> MASTER "
           "<span style=\"color:#1f77b4\">&#9632;</span> BACKUP "
           "<span style=\"color:#d62728\">&#9632;</span> FAULT "
           "<span style=\"color:#7f7f7f\">&#9632;</span> INIT</figcaption></figure>\n";
}

// The node's own table: one row per fact.
static std::string html_node_table(const BoardData& d, std::int64_t now_ns) {
    std::string o = "<table>\n";
    auto row = [&](const std::string& k, const std::string& v) {
        o += "<tr><th align=left>" + k + "</th><td>" + v + "</td></tr>\n";
    };
    row("State", state_text(d.state));
    row("Priority (effective)",
        std::to_string(d.configured_priority) + " (" + std::to_string(d.effective_priority) + ")");
    row("Interval / dead interval", std::to_string(d.interval_ns / 1000000) + " ms / " +
                                        std::to_string(d.dead_interval_ns / 1000000) + " ms");
    row("Preempt", d.preempt ? "on" : "off");
    row("Boot epoch", std::to_string(d.boot_epoch));
    row("Transitions", std::to_string(d.transitions));
    row("Last transition",
        html(d.last_reason) + " (" + seconds_ago(d.last_transition_ns, now_ns) + " s ago)");
    row("Heartbeats sent / accepted", std::to_string(d.sent) + " / " + std::to_string(d.accepted));
    std::string drops;
    for_each_drop(d.drops, [&](const char* name, std::uint64_t v) {
        if (v) drops += std::string(name) + "=" + std::to_string(v) + " ";
    });
    row("Dropped messages", std::to_string(d.drops.total()) + (drops.empty() ? "" : ": " + drops));
    row("Episodes", "split brain " + std::to_string(d.split_brain_episodes) + " (announced again " +
                        std::to_string(d.reannouncements) + " times), runs of rejected datagrams " +
                        std::to_string(d.rejected_episodes));
    row("Longest gap between heartbeats sent", ms_text(d.longest_send_gap_ns) + " ms");
    row("Pauses of this node (woke over 1 ms late)",
        std::to_string(d.pauses) + ", longest " + ms_text(d.longest_pause_ns) + " ms");
    return o + "</table>\n";
}

static std::string html_peer_table(const BoardData& d, std::int64_t now_ns) {
    std::string o =
        "<h2>Peers</h2>\n<table border=1><tr><th>Node id</th><th>Address</th>"
        "<th>State</th><th>Priority</th><th>Live</th><th>Last seen (s ago)</th>"
        "<th>Longest silence (ms)</th></tr>\n";
    for (std::uint32_t i = 0; i < d.peer_count && i < kMaxPeers; ++i) {
        const BoardPeer& p = d.peers[i];
        o += "<tr><td>" + std::to_string(p.node_id) + "</td><td>" + html(p.address) + "</td><td>" +
             state_text(p.state) + "</td><td>" + std::to_string(p.priority) + "</td><td>" +
             (p.live ? "yes" : "no") + "</td><td>" + seconds_ago(p.last_seen_ns, now_ns) +
             "</td><td>" + ms_text(p.longest_silence_ns) + "</td></tr>\n";
    }
    return o + "</table>\n";
}

static std::string html_address_table(const BoardData& d) {
    std::string o =
        "<h2>Service addresses</h2>\n<table border=1><tr><th>Address</th>"
        "<th>Interface</th><th>Group</th><th>Held here</th><th>Holder</th>"
        "<th>State here</th><th>Priority here</th><th></th></tr>\n";
    for (std::uint32_t i = 0; i < d.address_count && i < kMaxServiceAddresses; ++i) {
        const BoardAddress& a = d.addresses[i];
        o += "<tr><td>" + html(a.text) + "</td><td>" + html(a.interface) + "</td><td>" +
             html(a.group) + (a.home ? " (home)" : "") + "</td><td>" + (a.held ? "yes" : "no") +
             "</td><td>" + html(holder_name(d, a.holder_node_id).c_str()) + "</td><td>" +
             state_text(a.group_state) + "</td><td>" + std::to_string(a.group_priority) +
             "</td><td>";
        // One group handed over alone (the form below hands over every group held here).
        if (d.group_count > 1 && a.group_state == static_cast<std::uint8_t>(NodeState::kMaster))
            o += "<form method=\"post\"><input type=\"hidden\" name=\"action\" "
                 "value=\"handover\"><input type=\"hidden\" name=\"group\" value=\"" +
                 html(a.group) + "\"><input type=\"hidden\" name=\"nonce\" value=\"" +
                 html(d.handover_nonce) + "\"><button type=\"submit\">Hand over</button></form>";
        o += "</td></tr>\n";
    }
    return o + "</table>\n";
}

std::string render_html(const BoardData& d, std::int64_t now_ns) {
    std::string o =
        "<!DOCTYPE html>\n<html><head><title>HA heartbeat status</title></head><body>\n";
    o += "<h1>HA heartbeat: " + html(d.node_name) + "</h1>\n";
    o += html_node_table(d, now_ns);
    o += html_peer_table(d, now_ns);
    o += html_address_table(d);
    o += render_state_timeline(d, now_ns);
    if (d.state == static_cast<std::uint8_t>(NodeState::kMaster)) {
        // Posts to this same URL. The nonce (and the Origin/Referer check of the handler) keep
        // other sites' pages from submitting it through the browser of someone who may.
        o += "<form method=\"post\"><input type=\"hidden\" name=\"action\" "
             "value=\"handover\"><input type=\"hidden\" name=\"nonce\" value=\"" +
             html(d.handover_nonce) + "\"><button type=\"submit\">" +
             (d.group_count > 1 ? "Drain this node: hand every address held here over"
                                : "Hand over to the best backup") +
             "</button></form>\n";
    }
    if (d.handover_result[0]) o += "<p>Last handover: " + html(d.handover_result) + "</p>\n";
    o += "</body></html>\n";
    return o;
}

}  // namespace ha_heartbeat
