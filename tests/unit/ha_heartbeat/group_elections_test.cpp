#include "group_elections.h"

#include <catch2/catch.hpp>

#include "sim_group_cluster.h"

using namespace ha_heartbeat;
using namespace ha_heartbeat::testing;

namespace {
const std::uint8_t kSrc4[4] = {10, 231, 0, 2};
}  // namespace

TEST_CASE("one group's heartbeat is that group's election, with one entry beside it") {
    SimClock clock;
    HaConfig c = group_node_config(0, 2, service_addresses(1));
    c.priority = 170;
    GroupElections ge(c, plan_groups(c), clock);
    REQUIRE(ge.size() == 1);
    CHECK(ge.node_state() == NodeState::kInit);
    ge.election(0).start();
    const Heartbeat alone = ge.election(0).outgoing();
    const Heartbeat hb = ge.outgoing();
    CHECK(hb.node_id == c.node_id());
    CHECK(hb.state == alone.state);
    CHECK(hb.priority == 170);
    CHECK(hb.interval_us == alone.interval_us);
    REQUIRE(hb.group_count == 1);
    CHECK(hb.groups[0].key == group_key("10.231.1.1/24"));
    CHECK(hb.groups[0].state == NodeState::kBackup);
    CHECK(hb.groups[0].priority == 170);
}

TEST_CASE("the node's summary state: MASTER when it holds a group, FAULT when unhealthy") {
    SimClock clock;
    const HaConfig c = group_node_config(0, 3, service_addresses(3));
    GroupElections ge(c, plan_groups(c), clock);
    REQUIRE(ge.size() == 3);
    CHECK(ge.node_state() == NodeState::kInit);
    ge.election(1).start();
    CHECK(ge.node_state() == NodeState::kBackup);
    ge.election(0).start();
    ge.election(2).start();
    clock.advance(std::chrono::seconds(1));  // alone: every group claims after listening
    ge.election(2).tick();
    REQUIRE(ge.election(2).state() == NodeState::kMaster);
    CHECK(ge.node_state() == NodeState::kMaster);
    const Heartbeat hb = ge.outgoing();
    CHECK(hb.state == NodeState::kMaster);
    CHECK(hb.groups[0].state == NodeState::kBackup);
    CHECK(hb.groups[2].state == NodeState::kMaster);
    // The header's priority and flags are the first group's.
    CHECK(hb.priority == ge.election(0).outgoing().priority);
    // Health is the node's: the glue sets it on every group alike.
    for (std::size_t g = 0; g < ge.size(); ++g)
        ge.election(g).set_health(true, 0, "interface eth0 has no carrier");
    CHECK(ge.node_state() == NodeState::kFault);
    CHECK(ge.outgoing().state == NodeState::kFault);
    // FAULT in a later group outweighs MASTER in an earlier one, whatever the order.
    for (std::size_t g = 0; g < ge.size(); ++g) ge.election(g).set_health(false, 0, "");
    clock.advance(std::chrono::seconds(1));
    ge.election(0).tick();
    REQUIRE(ge.election(0).state() == NodeState::kMaster);
    ge.election(2).set_health(true, 0, "one group's view");
    CHECK(ge.node_state() == NodeState::kFault);
}

TEST_CASE("each group's election hears the sender's entry for that group only") {
    SimClock clock;
    const auto addresses = service_addresses(3);
    const HaConfig sender_config = group_node_config(1, 3, addresses);
    GroupElections sender(sender_config, plan_groups(sender_config), clock);
    for (std::size_t g = 0; g < sender.size(); ++g) sender.election(g).start();
    clock.advance(std::chrono::seconds(1));
    sender.election(1).tick();  // its home group: it is master of that one only
    REQUIRE(sender.election(1).state() == NodeState::kMaster);
    // A live backup of that group to hand it to: the handover flag is the group's, not the node's.
    Heartbeat backup;
    backup.node_id = 77;
    backup.state = NodeState::kBackup;
    backup.priority = 50;
    backup.interval_us = 100000;
    sender.election(1).on_heartbeat(backup);
    REQUIRE_FALSE(sender.election(1).request_handover());
    // Through the real codec, as a receiver sees it.
    const auto src = wire_address_v4(kSrc4);
    const SecretKey key("a key of sixteen bytes or more");
    Heartbeat hb = sender.outgoing();
    hb.cluster_id = kCluster;
    hb.challenge = 1;
    const WireMessage m = encode(hb, key, src);
    Heartbeat got;
    REQUIRE(decode(m.data(), m.size(), key, src, kCluster, &got) == DecodeStatus::kOk);
    for (std::size_t g = 0; g < sender.size(); ++g) {
        CAPTURE(g);
        const auto view = group_view(got, sender.group(g).key);
        REQUIRE(view);
        const Heartbeat own = sender.election(g).outgoing();
        CHECK(view->node_id == sender_config.node_id());
        CHECK(view->state == own.state);
        CHECK(view->priority == own.priority);
        CHECK(view->flags == own.flags);
        CHECK(view->handover_to == own.handover_to);
    }
    CHECK(group_view(got, sender.group(1).key)->handover_to == 77);
    CHECK(group_view(got, sender.group(0).key)->flags == 0);
    CHECK_FALSE(group_view(got, group_key("a group the sender lacks")));
    Heartbeat none = got;
    none.group_count = 0;
    CHECK_FALSE(group_view(none, sender.group(0).key));
    // A receiver finds its groups by key.
    const HaConfig receiver_config = group_node_config(0, 3, addresses);
    GroupElections receiver(receiver_config, plan_groups(receiver_config), clock);
    for (std::size_t g = 0; g < receiver.size(); ++g)
        CHECK(receiver.find(sender.group(g).key) == g);
    CHECK(receiver.find(group_key("a group the sender lacks")) == receiver.size());
}
