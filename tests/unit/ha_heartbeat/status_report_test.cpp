#include "status_report.h"

#include <catch2/catch.hpp>

#include "sample_board.h"

using namespace ha_heartbeat;

TEST_CASE("the status report shows state, peers, addresses and drop counters, escaped") {
    BoardData d = master_board();
    copy_text(d.node_name, "alpha<\"x\">");
    const std::string json = render_json(d, 1'250'000'000);
    CHECK(json.find("\"node\":\"alpha<\\\"x\\\">\"") != std::string::npos);
    CHECK(json.find("\"state\":\"MASTER\"") != std::string::npos);
    CHECK(json.find("\"effective_priority\":180") != std::string::npos);
    CHECK(json.find("\"bad_mac\":4") != std::string::npos);
    CHECK(json.find("\"total\":6") != std::string::npos);
    CHECK(json.find("\"last_seen_seconds_ago\":0.250") != std::string::npos);
    CHECK(json.find("\"held\":true") != std::string::npos);
    CHECK(json.find("\"longest_silence_ms\":23.4") != std::string::npos);
    CHECK(json.find("\"timing\":{\"longest_send_gap_ms\":12.5,\"pauses\":2,"
                    "\"longest_pause_ms\":41.0}") != std::string::npos);
    const std::string html = render_html(d, 1'250'000'000);
    CHECK(html.find("alpha&lt;&quot;x&quot;&gt;") != std::string::npos);
    CHECK(html.find("10.231.0.100/24") != std::string::npos);
    CHECK(html.find("<td>23.4</td>") != std::string::npos);
    CHECK(html.find("2, longest 41.0 ms") != std::string::npos);
    // A master offers the handover action; a backup does not.
    CHECK(html.find("name=\"action\" value=\"handover\"") != std::string::npos);
    // with the nonce the handler requires; the JSON (for monitoring) never carries it.
    copy_text(d.handover_nonce, "0123456789abcdef0123456789abcdef");
    CHECK(render_html(d, 0).find("name=\"nonce\" value=\"0123456789abcdef0123456789abcdef\"") !=
          std::string::npos);
    CHECK(render_json(d, 0).find("0123456789abcdef0123456789abcdef") == std::string::npos);
    d.state = static_cast<std::uint8_t>(NodeState::kBackup);
    d.addresses[0].group_state = static_cast<std::uint8_t>(NodeState::kBackup);
    CHECK(render_html(d, 0).find("value=\"handover\"") == std::string::npos);
}

TEST_CASE("the status report names each address's holder, its group state and its home") {
    BoardData d = master_board();
    const std::string json = render_json(d, 0);
    CHECK(json.find("{\"address\":\"10.231.0.100/24\",\"interface\":\"eth0\",\"held\":true,"
                    "\"group\":\"10.231.0.100/24\",\"state\":\"MASTER\",\"priority\":250,"
                    "\"home\":true,\"holder_node_id\":7,\"holder\":\"alpha (this node)\"}") !=
          std::string::npos);
    CHECK(json.find("\"holder_node_id\":9,\"holder\":\"node 9 (10.231.0.2:694)\"") !=
          std::string::npos);
    const std::string html = render_html(d, 0);
    // One handover button per address group held here, and the whole-node drain.
    CHECK(html.find("name=\"group\" value=\"10.231.0.100/24\"") != std::string::npos);
    CHECK(html.find("name=\"group\" value=\"10.231.0.101/24\"") == std::string::npos);
    CHECK(html.find("Drain this node") != std::string::npos);
    d.addresses[1].holder_node_id = 0;
    CHECK(render_json(d, 0).find("\"holder_node_id\":0,\"holder\":\"nobody\"") !=
          std::string::npos);
}

TEST_CASE("copy_text truncates and always terminates") {
    char field[4];
    copy_text(field, "abcdef");
    CHECK(std::string(field) == "abc");
}

TEST_CASE("the status page draws the node's recent states as a timeline") {
    constexpr std::int64_t kSecond = 1'000'000'000;
    BoardData d{};
    record_state(d, static_cast<std::uint8_t>(NodeState::kInit), 100 * kSecond);
    record_state(d, static_cast<std::uint8_t>(NodeState::kBackup), 101 * kSecond);
    record_state(d, static_cast<std::uint8_t>(NodeState::kBackup), 150 * kSecond);  // no change
    record_state(d, static_cast<std::uint8_t>(NodeState::kMaster), 200 * kSecond);
    CHECK(d.history_count == 3);
    const std::string html = render_html(d, 300 * kSecond);
    CHECK(html.find("<svg class=\"timeline\"") != std::string::npos);
    CHECK(html.find("<title>BACKUP</title>") != std::string::npos);
    CHECK(html.find("<title>MASTER</title>") != std::string::npos);
    // The ring keeps the newest kStateHistory changes.
    for (std::size_t i = 0; i < 2 * kStateHistory; ++i)
        record_state(d, static_cast<std::uint8_t>(i % 2 ? NodeState::kMaster : NodeState::kBackup),
                     (400 + static_cast<std::int64_t>(i)) * kSecond);
    CHECK(d.history_count == kStateHistory);
    const std::uint32_t last = (d.history_next + kStateHistory - 1) % kStateHistory;
    CHECK(d.history[last].time_ns ==
          (400 + 2 * static_cast<std::int64_t>(kStateHistory) - 1) * kSecond);
}
