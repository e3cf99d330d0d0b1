#include "status_metrics.h"

#include <string>

namespace ha_heartbeat {
namespace {

using suite::MetricType;

constexpr double kNanosPerSecond = 1e9;

double seconds_since(std::int64_t then_ns, std::int64_t now_ns) {
    return (now_ns - then_ns) / kNanosPerSecond;
}

// The board's text fields are fixed arrays; a corrupted one must not be read past its end.
template <std::size_t N>
std::string text_of(const char (&field)[N]) {
    std::size_t n = 0;
    while (n < N && field[n]) ++n;
    return std::string(field, n);
}

// The node's families come in three parts, in the order of the README's metrics table: who it
// is and what state it is in; what it sent, heard and dropped; how well it kept its timing.
void node_state_families(suite::MetricsWriter& w, const BoardData& d, const std::string& node,
                         std::int64_t now_ns) {
    const std::string node_id = std::to_string(d.node_id);
    w.family("httpd_ha_node", MetricType::kInfo, "This node's name and node id");
    w.sample({{"node", node}, {"node_id", node_id}}, 1);
    w.family("httpd_ha_state", MetricType::kGauge,
             "1 for the state this node is in (INIT, BACKUP, MASTER, FAULT), 0 for the others");
    for (std::uint8_t s = 0; s <= kLastState; ++s)
        w.sample({{"node", node}, {"state", state_name(static_cast<NodeState>(s))}},
                 d.state == s ? 1 : 0);
    w.family("httpd_ha_configured_priority", MetricType::kGauge, "HAPriority as configured");
    w.sample({{"node", node}}, d.configured_priority);
    w.family("httpd_ha_effective_priority", MetricType::kGauge,
             "The priority this node advertises now (lowered by failing health checks)");
    w.sample({{"node", node}}, d.effective_priority);
    w.family("httpd_ha_heartbeat_interval_seconds", MetricType::kGauge,
             "Time between this node's heartbeats", "seconds");
    w.sample({{"node", node}}, d.interval_ns / kNanosPerSecond);
    w.family("httpd_ha_dead_interval_seconds", MetricType::kGauge,
             "Silence after which a peer is taken for dead", "seconds");
    w.sample({{"node", node}}, d.dead_interval_ns / kNanosPerSecond);
    w.family("httpd_ha_transitions", MetricType::kCounter, "State changes of this node");
    w.sample({{"node", node}}, static_cast<double>(d.transitions));
    w.family("httpd_ha_last_transition_age_seconds", MetricType::kGauge,
             "Time since this node's last state change; absent before the first", "seconds");
    if (d.last_transition_ns)
        w.sample({{"node", node}}, seconds_since(d.last_transition_ns, now_ns));
}

void node_traffic_families(suite::MetricsWriter& w, const BoardData& d, const std::string& node) {
    w.family("httpd_ha_heartbeats_sent", MetricType::kCounter, "Heartbeats this node sent");
    w.sample({{"node", node}}, static_cast<double>(d.sent));
    w.family("httpd_ha_heartbeats_accepted", MetricType::kCounter,
             "Heartbeats from peers that passed every check");
    w.sample({{"node", node}}, static_cast<double>(d.accepted));
    w.family("httpd_ha_heartbeats_dropped", MetricType::kCounter,
             "Datagrams dropped, by the check they failed");
    for_each_drop(d.drops, [&](const char* reason, std::uint64_t count) {
        w.sample({{"node", node}, {"reason", reason}}, static_cast<double>(count));
    });
    w.family("httpd_ha_split_brain_episodes", MetricType::kCounter,
             "Episodes in which another node also claimed to be master");
    w.sample({{"node", node}}, static_cast<double>(d.split_brain_episodes));
    w.family("httpd_ha_reannouncements", MetricType::kCounter,
             "Address announcements repeated because of a split brain");
    w.sample({{"node", node}}, static_cast<double>(d.reannouncements));
    w.family("httpd_ha_rejected_datagram_episodes", MetricType::kCounter,
             "Runs of rejected datagrams (each logged once)");
    w.sample({{"node", node}}, static_cast<double>(d.rejected_episodes));
    w.family("httpd_ha_handover_requests", MetricType::kCounter,
             "Handovers asked for on the status page");
    w.sample({{"node", node}}, static_cast<double>(d.handover_requests));
}

void node_timing_families(suite::MetricsWriter& w, const BoardData& d, const std::string& node,
                          std::int64_t now_ns) {
    w.family("httpd_ha_longest_send_gap_seconds", MetricType::kGauge,
             "Longest time between two heartbeats this node sent", "seconds");
    w.sample({{"node", node}}, d.longest_send_gap_ns / 1e9);
    w.family("httpd_ha_pauses", MetricType::kCounter,
             "Waits of the heartbeat process that ended over 1 ms later than asked (the node, "
             "its CPU or its VM was stopped); not counted as peers' silence");
    w.sample({{"node", node}}, static_cast<double>(d.pauses));
    w.family("httpd_ha_longest_pause_seconds", MetricType::kGauge, "The longest of those pauses",
             "seconds");
    w.sample({{"node", node}}, d.longest_pause_ns / 1e9);
    w.family("httpd_ha_board_age_seconds", MetricType::kGauge,
             "Time since the heartbeat process last updated the status board; absent before it "
             "first did",
             "seconds");
    if (d.updated_ns) w.sample({{"node", node}}, seconds_since(d.updated_ns, now_ns));
}

void node_families(suite::MetricsWriter& w, const BoardData& d, std::int64_t now_ns) {
    const std::string node = text_of(d.node_name);
    node_state_families(w, d, node, now_ns);
    node_traffic_families(w, d, node);
    node_timing_families(w, d, node, now_ns);
}

void peer_families(suite::MetricsWriter& w, const BoardData& d, std::int64_t now_ns) {
    const std::uint32_t peers = d.peer_count < kMaxPeers ? d.peer_count : kMaxPeers;
    auto each_peer = [&](auto f) {
        for (std::uint32_t i = 0; i < peers; ++i) {
            const BoardPeer& p = d.peers[i];
            f(p, std::to_string(p.node_id), text_of(p.address));
        }
    };
    w.family("httpd_ha_peer_last_seen_age_seconds", MetricType::kGauge,
             "Time since the peer's last accepted heartbeat; absent if never seen", "seconds");
    each_peer([&](const BoardPeer& p, const std::string& id, const std::string& address) {
        if (p.last_seen_ns)
            w.sample({{"peer", id}, {"address", address}}, seconds_since(p.last_seen_ns, now_ns));
    });
    w.family("httpd_ha_peer_longest_silence_seconds", MetricType::kGauge,
             "Longest gap between two heartbeats heard from the peer (this node's own pauses "
             "excepted); near the dead interval, a failover was near",
             "seconds");
    each_peer([&](const BoardPeer& p, const std::string& id, const std::string& address) {
        w.sample({{"peer", id}, {"address", address}}, p.longest_silence_ns / 1e9);
    });
    w.family("httpd_ha_peer_live", MetricType::kGauge,
             "1 if the peer was heard within the dead interval, else 0");
    each_peer([&](const BoardPeer& p, const std::string& id, const std::string& address) {
        w.sample({{"peer", id}, {"address", address}}, p.live ? 1 : 0);
    });
    w.family("httpd_ha_peer_priority", MetricType::kGauge, "The priority the peer advertises");
    each_peer([&](const BoardPeer& p, const std::string& id, const std::string& address) {
        w.sample({{"peer", id}, {"address", address}}, p.priority);
    });
    w.family("httpd_ha_peer_state", MetricType::kGauge,
             "1 for the state the peer last advertised, 0 for the others");
    each_peer([&](const BoardPeer& p, const std::string& id, const std::string& address) {
        for (std::uint8_t s = 0; s <= kLastState; ++s)
            w.sample({{"peer", id},
                      {"address", address},
                      {"state", state_name(static_cast<NodeState>(s))}},
                     p.state == s ? 1 : 0);
    });
}

void address_families(suite::MetricsWriter& w, const BoardData& d) {
    const std::string node = text_of(d.node_name);
    const std::uint32_t count =
        d.address_count < kMaxServiceAddresses ? d.address_count : kMaxServiceAddresses;
    w.family("httpd_ha_address_held", MetricType::kGauge,
             "1 if this node holds the service address (as master), else 0; summed over the "
             "nodes it is the number of holders");
    for (std::uint32_t i = 0; i < count; ++i) {
        const BoardAddress& a = d.addresses[i];
        w.sample(
            {{"node", node}, {"address", text_of(a.text)}, {"interface", text_of(a.interface)}},
            a.held ? 1 : 0);
    }
    w.family("httpd_ha_address_home", MetricType::kGauge,
             "1 if this node is the service address's first choice (its home, or first in "
             "prefer=), else 0: an address held away from home has moved");
    for (std::uint32_t i = 0; i < count; ++i) {
        const BoardAddress& a = d.addresses[i];
        w.sample({{"node", node}, {"address", text_of(a.text)}, {"group", text_of(a.group)}},
                 a.home ? 1 : 0);
    }
}

}  // namespace

std::string render_metrics(const BoardData& d, std::int64_t now_ns, suite::MetricsFormat format) {
    suite::MetricsWriter w(format);
    node_families(w, d, now_ns);
    peer_families(w, d, now_ns);
    address_families(w, d);
    return w.finish();
}

}  // namespace ha_heartbeat
