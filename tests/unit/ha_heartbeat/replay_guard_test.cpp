#include "replay_guard.h"

#include <catch2/catch.hpp>

#include "heartbeat_receiver.h"

using namespace ha_heartbeat;

TEST_CASE("the replay guard accepts only strictly newer (epoch, sequence) per node") {
    ReplayGuard g;
    using V = ReplayGuard::Verdict;
    CHECK(g.check_and_record(5, 10, 1) == V::kFresh);
    CHECK(g.check_and_record(5, 10, 1) == V::kReplayed);  // duplicate
    CHECK(g.check_and_record(5, 10, 3) == V::kFresh);
    CHECK(g.check_and_record(5, 10, 2) == V::kReplayed);   // reordered, older
    CHECK(g.check_and_record(5, 11, 1) == V::kFresh);      // restart: new epoch, sequence resets
    CHECK(g.check_and_record(5, 10, 99) == V::kReplayed);  // anything from the old run
    CHECK(g.check_and_record(6, 1, 1) == V::kFresh);       // marks are per node
}

TEST_CASE("the replay guard's table is bounded and refuses new nodes when full") {
    ReplayGuard g;
    for (std::uint32_t n = 1; n <= kMaxPeers; ++n)
        CHECK(g.check_and_record(n, 1, 1) == ReplayGuard::Verdict::kFresh);
    CHECK(g.check_and_record(1000, 1, 1) == ReplayGuard::Verdict::kTableFull);
    CHECK(g.check_and_record(3, 1, 2) == ReplayGuard::Verdict::kFresh);
}

TEST_CASE(
    "the receiver drops replayed, foreign-source and self-addressed messages and counts them") {
    const SecretKey key("replay test key, 32 bytes long.");
    const std::uint8_t a[4] = {10, 231, 0, 2}, stranger[4] = {10, 231, 0, 66};
    const auto peer = wire_address_v4(a);
    constexpr std::uint64_t kOurChallenge = 0x1234;
    HeartbeatReceiver rx(key, 1, 100, {peer}, kOurChallenge);
    Heartbeat hb;
    hb.cluster_id = 1;
    hb.node_id = 200;
    hb.priority = 10;
    hb.state = NodeState::kBackup;
    hb.interval_us = 100000;
    hb.boot_epoch = 3;
    hb.sequence = 1;
    hb.challenge = 77;
    hb.echo = kOurChallenge;
    const auto m = encode(hb, key, peer);
    CHECK(rx.accept(m.data(), m.size(), peer).has_value());
    CHECK_FALSE(rx.accept(m.data(), m.size(), peer).has_value());
    CHECK(rx.drops().replayed == 1);
    // The same bytes re-sent from a third host: unknown source first...
    CHECK_FALSE(rx.accept(m.data(), m.size(), wire_address_v4(stranger)).has_value());
    CHECK(rx.drops().unknown_source == 1);
    // ...and, were that host a configured peer, the MAC (which covers the source) fails.
    HeartbeatReceiver rx2(key, 1, 100, {peer, wire_address_v4(stranger)}, kOurChallenge);
    CHECK_FALSE(rx2.accept(m.data(), m.size(), wire_address_v4(stranger)).has_value());
    CHECK(rx2.drops().bad_mac == 1);
    hb.node_id = 100;
    hb.sequence = 2;
    const auto self = encode(hb, key, peer);
    CHECK_FALSE(rx.accept(self.data(), self.size(), peer).has_value());
    CHECK(rx.drops().own_node_id == 1);
}

TEST_CASE("the receiver counts a heartbeat only if it echoes this receiver's challenge") {
    const SecretKey key("challenge test key, 32 bytes...");
    const std::uint8_t a[4] = {10, 231, 0, 2};
    const auto peer = wire_address_v4(a);
    HeartbeatReceiver rx(key, 1, 100, {peer});  // a random challenge, as in production
    REQUIRE(rx.challenge() != 0);
    CHECK(HeartbeatReceiver(key, 1, 100, {peer}).challenge() != rx.challenge());
    CHECK(rx.echo_for(peer) == 0);  // nothing heard yet
    Heartbeat hb;
    hb.cluster_id = 1;
    hb.node_id = 200;
    hb.priority = 10;
    hb.state = NodeState::kMaster;
    hb.interval_us = 100000;
    hb.boot_epoch = 3;
    hb.challenge = 0xabcdef;
    // The peer has not heard from us yet (echo 0), or echoes an earlier run's challenge:
    // authentic and fresh, so its challenge is learnt, but it is no evidence of life.
    hb.sequence = 1;
    hb.echo = 0;
    auto m = encode(hb, key, peer);
    CHECK_FALSE(rx.accept(m.data(), m.size(), peer).has_value());
    hb.sequence = 2;
    hb.echo = rx.challenge() ^ 1;
    m = encode(hb, key, peer);
    CHECK_FALSE(rx.accept(m.data(), m.size(), peer).has_value());
    CHECK(rx.awaiting_echo() == 1);
    CHECK(rx.drops().unconfirmed == 1);
    CHECK(rx.echo_for(peer) == 0xabcdef);
    // Echoing ours: accepted.
    hb.sequence = 3;
    hb.echo = rx.challenge();
    m = encode(hb, key, peer);
    CHECK(rx.accept(m.data(), m.size(), peer).has_value());
    CHECK(rx.accepted() == 1);
    // A replay is still a replay (checked first), and does not change what we echo.
    CHECK_FALSE(rx.accept(m.data(), m.size(), peer).has_value());
    CHECK(rx.drops().replayed == 1);
    // A challenge is learnt only from fresh messages: a replayed older one cannot make us echo
    // a stale value.
    hb.sequence = 1;
    hb.challenge = 0x5555;
    m = encode(hb, key, peer);
    CHECK_FALSE(rx.accept(m.data(), m.size(), peer).has_value());
    CHECK(rx.echo_for(peer) == 0xabcdef);
    CHECK(rx.echo_for(WireAddress{}) == 0);  // not a peer
}
