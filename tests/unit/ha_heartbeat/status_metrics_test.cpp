#include "status_metrics.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <string>

#include "exposition_lines.h"
#include "sample_board.h"

using namespace ha_heartbeat;

TEST_CASE("HA metrics show the board: one-hot state, priorities, counters, peers, addresses") {
    const std::string page =
        render_metrics(master_board(), 1'250'000'000, suite::MetricsFormat::kPrometheusText);
    CHECK(has_line(page, "httpd_ha_node_info{node=\"alpha\",node_id=\"7\"} 1"));
    CHECK(has_line(page, "httpd_ha_state{node=\"alpha\",state=\"MASTER\"} 1"));
    CHECK(has_line(page, "httpd_ha_state{node=\"alpha\",state=\"BACKUP\"} 0"));
    CHECK(has_line(page, "httpd_ha_state{node=\"alpha\",state=\"FAULT\"} 0"));
    CHECK(has_line(page, "httpd_ha_state{node=\"alpha\",state=\"INIT\"} 0"));
    CHECK(has_line(page, "httpd_ha_effective_priority{node=\"alpha\"} 180"));
    CHECK(has_line(page, "httpd_ha_configured_priority{node=\"alpha\"} 200"));
    CHECK(has_line(page, "httpd_ha_transitions_total{node=\"alpha\"} 3"));
    CHECK(has_line(page, "httpd_ha_last_transition_age_seconds{node=\"alpha\"} 0.75"));
    CHECK(has_line(page, "httpd_ha_heartbeats_sent_total{node=\"alpha\"} 1234"));
    CHECK(has_line(page, "httpd_ha_heartbeats_accepted_total{node=\"alpha\"} 1200"));
    CHECK(has_line(page, "httpd_ha_heartbeats_dropped_total{node=\"alpha\",reason=\"bad_mac\"} 4"));
    CHECK(
        has_line(page, "httpd_ha_heartbeats_dropped_total{node=\"alpha\",reason=\"replayed\"} 2"));
    CHECK(has_line(page,
                   "httpd_ha_heartbeats_dropped_total{node=\"alpha\",reason=\"wrong_size\"} 0"));
    CHECK(has_line(page, "httpd_ha_heartbeat_interval_seconds{node=\"alpha\"} 0.1"));
    CHECK(has_line(page,
                   "httpd_ha_peer_last_seen_age_seconds{peer=\"9\",address=\"10.231.0.2:"
                   "694\"} 0.25"));
    CHECK(has_line(page,
                   "httpd_ha_peer_state{peer=\"9\",address=\"10.231.0.2:694\",state="
                   "\"BACKUP\"} 1"));
    CHECK(has_line(page, "httpd_ha_peer_live{peer=\"9\",address=\"10.231.0.2:694\"} 1"));
    CHECK(has_line(page, "httpd_ha_peer_priority{peer=\"9\",address=\"10.231.0.2:694\"} 100"));
    CHECK(has_line(page,
                   "httpd_ha_address_held{node=\"alpha\",address=\"10.231.0.100/24\","
                   "interface=\"eth0\"} 1"));
    CHECK(has_line(page,
                   "httpd_ha_address_held{node=\"alpha\",address=\"10.231.0.101/24\","
                   "interface=\"eth0\"} 0"));
    CHECK(has_line(page,
                   "httpd_ha_address_home{node=\"alpha\",address=\"10.231.0.100/24\","
                   "group=\"10.231.0.100/24\"} 1"));
    CHECK(has_line(page,
                   "httpd_ha_address_home{node=\"alpha\",address=\"10.231.0.101/24\","
                   "group=\"10.231.0.101/24\"} 0"));
    CHECK(has_line(page, "httpd_ha_board_age_seconds{node=\"alpha\"} 0.05"));
    CHECK(has_line(page, "httpd_ha_longest_send_gap_seconds{node=\"alpha\"} 0.0125"));
    CHECK(has_line(page, "httpd_ha_pauses_total{node=\"alpha\"} 2"));
    CHECK(has_line(page, "httpd_ha_longest_pause_seconds{node=\"alpha\"} 0.041"));
    CHECK(has_line(page,
                   "httpd_ha_peer_longest_silence_seconds{peer=\"9\",address=\"10.231.0.2:"
                   "694\"} 0.0234"));
    CHECK(has_line(page, "# TYPE httpd_ha_transitions_total counter"));
}

TEST_CASE("HA metrics leave out ages of things that never happened") {
    BoardData d = master_board();
    d.last_transition_ns = 0;
    d.peers[0].last_seen_ns = 0;
    d.updated_ns = 0;
    const std::string page = render_metrics(d, 1'250'000'000, suite::MetricsFormat::kOpenMetrics);
    CHECK(page.find("httpd_ha_last_transition_age_seconds{") == std::string::npos);
    CHECK(page.find("httpd_ha_peer_last_seen_age_seconds{") == std::string::npos);
    CHECK(page.find("httpd_ha_board_age_seconds{") == std::string::npos);
    CHECK(has_line(page, "# TYPE httpd_ha_transitions counter"));
    CHECK(has_line(page, "httpd_ha_transitions_total{node=\"alpha\"} 3"));
    CHECK(page.substr(page.size() - 6) == "# EOF\n");
}

TEST_CASE("HA node names with quotes, backslashes and newlines are escaped in labels") {
    BoardData d = master_board();
    copy_text(d.node_name, "a\"b\\c\nd");
    const std::string page =
        render_metrics(d, 1'250'000'000, suite::MetricsFormat::kPrometheusText);
    CHECK(has_line(page, "httpd_ha_state{node=\"a\\\"b\\\\c\\nd\",state=\"MASTER\"} 1"));
}

TEST_CASE("an unterminated name on the board is read only up to its field's end") {
    BoardData d = master_board();
    std::memset(d.node_name, 'x', sizeof d.node_name);
    const std::string page =
        render_metrics(d, 1'250'000'000, suite::MetricsFormat::kPrometheusText);
    CHECK(has_line(page, "httpd_ha_transitions_total{node=\"" +
                             std::string(sizeof d.node_name, 'x') + "\"} 3"));
}
