#include "status_report.h"

#include <catch2/catch.hpp>

using namespace ha_heartbeat;

TEST_CASE("the status report shows state, peers, addresses and drop counters, escaped") {
    BoardData d{};
    copy_text(d.node_name, "alpha<\"x\">");
    d.state = static_cast<std::uint8_t>(NodeState::Master);
    d.configured_priority = 200;
    d.effective_priority = 180;
    d.transitions = 3;
    d.drops.bad_mac = 4;
    d.drops.replayed = 2;
    d.peer_count = 1;
    d.peers[0].node_id = 9;
    copy_text(d.peers[0].address, "10.231.0.2:694");
    d.peers[0].state = static_cast<std::uint8_t>(NodeState::Backup);
    d.peers[0].live = 1;
    d.peers[0].last_seen_ns = 1'000'000'000;
    d.address_count = 1;
    copy_text(d.addresses[0].text, "10.231.0.100/24");
    copy_text(d.addresses[0].interface, "eth0");
    d.addresses[0].held = 1;
    const std::string json = render_json(d, 1'250'000'000);
    CHECK(json.find("\"node\":\"alpha<\\\"x\\\">\"") != std::string::npos);
    CHECK(json.find("\"state\":\"MASTER\"") != std::string::npos);
    CHECK(json.find("\"effective_priority\":180") != std::string::npos);
    CHECK(json.find("\"bad_mac\":4") != std::string::npos);
    CHECK(json.find("\"total\":6") != std::string::npos);
    CHECK(json.find("\"last_seen_seconds_ago\":0.250") != std::string::npos);
    CHECK(json.find("\"held\":true") != std::string::npos);
    const std::string html = render_html(d, 1'250'000'000);
    CHECK(html.find("alpha&lt;&quot;x&quot;&gt;") != std::string::npos);
    CHECK(html.find("10.231.0.100/24") != std::string::npos);
    // A master offers the handover action; a backup does not.
    CHECK(html.find("name=\"action\" value=\"handover\"") != std::string::npos);
    d.state = static_cast<std::uint8_t>(NodeState::Backup);
    CHECK(render_html(d, 0).find("value=\"handover\"") == std::string::npos);
}

TEST_CASE("copy_text truncates and always terminates") {
    char field[4];
    copy_text(field, "abcdef");
    CHECK(std::string(field) == "abc");
}
