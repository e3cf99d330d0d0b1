#include "wire_codec.h"

#include <catch2/catch.hpp>
#include <random>
#include <vector>

#include "heartbeat_receiver.h"

using namespace ha_heartbeat;

namespace {
const SecretKey kKey("correct horse battery staple");
const std::uint8_t kSrc4[4] = {10, 231, 0, 1};
const std::uint8_t kOther4[4] = {10, 231, 0, 9};

Heartbeat sample() {
    Heartbeat hb;
    hb.cluster_id = 7;
    hb.node_id = 42;
    hb.priority = 150;
    hb.state = NodeState::kMaster;
    hb.interval_us = 100000;
    hb.boot_epoch = 1234567890123ull;
    hb.sequence = 99;
    hb.challenge = 0x0123456789abcdefull;
    hb.echo = 0xfedcba9876543210ull;
    return hb;
}
}  // namespace

TEST_CASE("a heartbeat survives encoding and decoding unchanged") {
    const auto src = wire_address_v4(kSrc4);
    Heartbeat hb = sample();
    hb.flags = kFlagHandover;
    hb.handover_to = 77;
    const WireMessage m = encode(hb, kKey, src);
    REQUIRE(m.size() == kWireSize);
    Heartbeat out;
    REQUIRE(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kOk);
    CHECK(out.node_id == 42);
    CHECK(out.priority == 150);
    CHECK(out.state == NodeState::kMaster);
    CHECK(out.interval_us == 100000);
    CHECK(out.boot_epoch == 1234567890123ull);
    CHECK(out.sequence == 99);
    CHECK(out.flags == kFlagHandover);
    CHECK(out.handover_to == 77);
    CHECK(out.challenge == 0x0123456789abcdefull);
    CHECK(out.echo == 0xfedcba9876543210ull);
}

TEST_CASE("the challenge and its echo are covered by the MAC and a challenge is required") {
    const auto src = wire_address_v4(kSrc4);
    Heartbeat hb = sample();
    WireMessage m = encode(hb, kKey, src);
    // Rewriting the echo (bytes 48..55) to another receiver's challenge breaks the MAC.
    for (std::size_t i = 48; i < 56; ++i) m[i] = 0x11;
    Heartbeat out;
    CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kBadMac);
    hb.challenge = 0;
    m = encode(hb, kKey, src);
    CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kMalformed);
    hb = sample();
    hb.echo = 0;  // "not heard from you yet" is a valid message
    m = encode(hb, kKey, src);
    CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kOk);
}

TEST_CASE("a version 1 message (no challenge) is refused") {
    const auto src = wire_address_v4(kSrc4);
    WireMessage m = encode(sample(), kKey, src);
    m[4] = 1;
    Heartbeat out;
    CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kBadVersion);
    // The old size too: 72 bytes.
    CHECK(decode(m.data(), 72, kKey, src, 7, &out) == DecodeStatus::kWrongSize);
}

TEST_CASE("a message is rejected with the wrong key, source address or cluster") {
    const auto src = wire_address_v4(kSrc4);
    const WireMessage m = encode(sample(), kKey, src);
    Heartbeat out;
    CHECK(decode(m.data(), m.size(), SecretKey("wrong key, but long enough"), src, 7, &out) ==
          DecodeStatus::kBadMac);
    CHECK(decode(m.data(), m.size(), kKey, wire_address_v4(kOther4), 7, &out) ==
          DecodeStatus::kBadMac);
    CHECK(decode(m.data(), m.size(), kKey, src, 8, &out) == DecodeStatus::kWrongCluster);
    CHECK(decode(m.data(), m.size(), SecretKey(), src, 7, &out) == DecodeStatus::kBadMac);
}

TEST_CASE("every single-bit flip of a message is rejected") {
    const auto src = wire_address_v4(kSrc4);
    const WireMessage m = encode(sample(), kKey, src);
    for (std::size_t byte = 0; byte < kWireSize; ++byte) {
        for (int bit = 0; bit < 8; ++bit) {
            WireMessage bad = m;
            bad[byte] ^= static_cast<std::uint8_t>(1u << bit);
            Heartbeat out;
            CHECK(decode(bad.data(), bad.size(), kKey, src, 7, &out) != DecodeStatus::kOk);
        }
    }
}

TEST_CASE("truncated and oversized datagrams are rejected without reading past the end") {
    const auto src = wire_address_v4(kSrc4);
    const WireMessage m = encode(sample(), kKey, src);
    Heartbeat out;
    for (std::size_t n = 0; n < kWireSize; ++n) {
        std::vector<std::uint8_t> cut(m.begin(), m.begin() + static_cast<long>(n));
        CHECK(decode(cut.data(), cut.size(), kKey, src, 7, &out) == DecodeStatus::kWrongSize);
    }
    std::vector<std::uint8_t> longer(m.begin(), m.end());
    longer.push_back(0);
    CHECK(decode(longer.data(), longer.size(), kKey, src, 7, &out) == DecodeStatus::kWrongSize);
    CHECK(decode(nullptr, 0, kKey, src, 7, &out) == DecodeStatus::kWrongSize);
}

TEST_CASE("authenticated but out-of-range fields are rejected as malformed") {
    const auto src = wire_address_v4(kSrc4);
    Heartbeat out;
    Heartbeat hb = sample();
    hb.priority = 255;
    auto m = encode(hb, kKey, src);
    CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kMalformed);
    hb = sample();
    hb.state = static_cast<NodeState>(9);
    m = encode(hb, kKey, src);
    CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kMalformed);
    hb = sample();
    hb.interval_us = 1;
    m = encode(hb, kKey, src);
    CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kMalformed);
    hb = sample();
    hb.node_id = 0;
    m = encode(hb, kKey, src);
    CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kMalformed);
    hb = sample();
    hb.flags = 0x80;
    m = encode(hb, kKey, src);
    CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kMalformed);
}

TEST_CASE("fuzz: random datagrams of random sizes are never accepted") {
    // Random bytes, and random bytes behind a valid magic and version so the MAC path runs.
    std::mt19937_64 rng(20261126);
    const auto src = wire_address_v4(kSrc4);
    HeartbeatReceiver rx(kKey, 7, 1, {src});
    const WireMessage good = encode(sample(), kKey, src);
    constexpr int kRounds = 200000;
    for (int i = 0; i < kRounds; ++i) {
        const std::size_t size = (i % 3 == 0) ? kWireSize : rng() % (2 * kWireSize + 1);
        std::vector<std::uint8_t> buf(size);
        for (auto& b : buf) b = static_cast<std::uint8_t>(rng());
        if (i % 2 == 0 && size >= 5) std::copy(good.begin(), good.begin() + 5, buf.begin());
        REQUIRE_FALSE(rx.accept(buf.data(), buf.size(), src).has_value());
    }
    CHECK(rx.drops().total() == kRounds);
    CHECK(rx.accepted() == 0);
}
