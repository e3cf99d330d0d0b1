#include "wire_codec.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <functional>
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

// Byte offsets of the layout documented in wire_codec.h, restated here so that the tests pin it.
constexpr std::size_t kGroupCountAt = 56, kGroupsAt = 60;
constexpr std::size_t kEntryKey = 0, kEntryState = 4, kEntryPriority = 5, kEntryFlags = 6,
                      kEntryZero = 7, kEntryHandover = 8;

std::size_t entry_at(std::size_t i) {
    return kGroupsAt + i * kGroupEntrySize;
}

// A heartbeat with `count` groups whose fields differ from entry to entry.
Heartbeat with_groups(std::size_t count) {
    Heartbeat hb = sample();
    hb.group_count = static_cast<std::uint8_t>(count);
    for (std::size_t i = 0; i < count; ++i) {
        GroupBeat& g = hb.groups[i];
        g.key = 0x9e3779b9u * static_cast<std::uint32_t>(i + 1);
        g.state = static_cast<NodeState>(i % (kLastState + 1));
        g.priority = static_cast<std::uint8_t>(i * 16);  // 0 (resigning) .. 240
        g.flags = i % 2 ? kFlagHandover : 0;
        g.handover_to = i % 2 ? 1000 + static_cast<std::uint32_t>(i) : 0;
    }
    return hb;
}

// Signs `m` as a sender holding the key would, whatever its bytes say: the MAC of wire_codec.h
// (HMAC-SHA256 over the header and the 16-byte source address). Lets a test hand decode() an
// authentic message that the encoder would never write.
void sign(WireMessage* m, const WireAddress& source) {
    std::uint8_t input[kHeaderSize + sizeof(WireAddress)];
    std::memcpy(input, m->data(), kHeaderSize);
    std::memcpy(input + kHeaderSize, source.data(), source.size());
    unsigned int length = 0;
    const std::string& k = kKey.bytes();
    REQUIRE(HMAC(EVP_sha256(), k.data(), static_cast<int>(k.size()), input, sizeof input,
                 m->data() + kHeaderSize, &length) != nullptr);
    REQUIRE(length == kMacSize);
}

DecodeStatus decode_signed(WireMessage m, const WireAddress& source) {
    sign(&m, source);
    Heartbeat out;
    return decode(m.data(), m.size(), kKey, source, 7, &out);
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

TEST_CASE("version 1 (no challenge) and version 2 (no groups) messages are refused") {
    const auto src = wire_address_v4(kSrc4);
    for (const std::uint8_t old : {1, 2}) {
        WireMessage m = encode(sample(), kKey, src);
        m[4] = old;
        Heartbeat out;
        CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kBadVersion);
        // Refused for the version, not for the MAC: signed as version `old`, still refused.
        CHECK(decode_signed(m, src) == DecodeStatus::kBadVersion);
    }
    // The old sizes too: version 1 was 72 bytes, version 2 88 bytes.
    const WireMessage m = encode(sample(), kKey, src);
    Heartbeat out;
    CHECK(decode(m.data(), 72, kKey, src, 7, &out) == DecodeStatus::kWrongSize);
    CHECK(decode(m.data(), 88, kKey, src, 7, &out) == DecodeStatus::kWrongSize);
    CHECK(kWireSize == 284);
}

TEST_CASE("version 3 carries 0, 1 or 16 group entries through encoding and decoding") {
    const auto src = wire_address_v4(kSrc4);
    for (const std::size_t count : {std::size_t{0}, std::size_t{1}, kMaxAddressGroups}) {
        CAPTURE(count);
        const Heartbeat hb = with_groups(count);
        const WireMessage m = encode(hb, kKey, src);
        CHECK(m[4] == 3);
        CHECK(m[kGroupCountAt] == count);
        Heartbeat out;
        REQUIRE(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kOk);
        CHECK(out.group_count == count);
        CHECK(out.node_id == hb.node_id);
        CHECK(out.challenge == hb.challenge);
        for (std::size_t i = 0; i < kMaxAddressGroups; ++i) {
            CAPTURE(i);
            const GroupBeat& want = i < count ? hb.groups[i] : GroupBeat{};
            CHECK(out.groups[i].key == want.key);
            CHECK(out.groups[i].state == want.state);
            CHECK(out.groups[i].priority == want.priority);
            CHECK(out.groups[i].flags == want.flags);
            CHECK(out.groups[i].handover_to == want.handover_to);
        }
    }
}

TEST_CASE("a group entry is laid out as documented, big-endian") {
    const auto src = wire_address_v4(kSrc4);
    Heartbeat hb = sample();
    hb.group_count = 2;
    hb.groups[1] = GroupBeat{0x01020304u, NodeState::kMaster, 200, kFlagHandover, 0x0a0b0c0du};
    hb.groups[0].key = 0xffu;
    const WireMessage m = encode(hb, kKey, src);
    const std::size_t e = entry_at(1);
    CHECK(std::vector<std::uint8_t>(m.begin() + static_cast<long>(e),
                                    m.begin() + static_cast<long>(e + kGroupEntrySize)) ==
          std::vector<std::uint8_t>{1, 2, 3, 4, 2, 200, kFlagHandover, 0, 10, 11, 12, 13});
    for (std::size_t b = kGroupCountAt + 1; b < kGroupsAt; ++b) CHECK(m[b] == 0);
    for (std::size_t b = entry_at(2); b < kHeaderSize; ++b) CHECK(m[b] == 0);
}

TEST_CASE("the encoder writes at most kMaxAddressGroups entries") {
    const auto src = wire_address_v4(kSrc4);
    Heartbeat hb = with_groups(kMaxAddressGroups);
    hb.group_count = 200;
    const WireMessage m = encode(hb, kKey, src);
    Heartbeat out;
    REQUIRE(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kOk);
    CHECK(out.group_count == kMaxAddressGroups);
}

TEST_CASE("authentic messages with bad group entries are malformed, unsigned ones bad MACs") {
    const auto src = wire_address_v4(kSrc4);
    const auto other = wire_address_v4(kOther4);
    const WireMessage good = encode(with_groups(3), kKey, src);
    // The signing helper signs as the encoder does: an unchanged message stays valid.
    REQUIRE(decode_signed(good, src) == DecodeStatus::kOk);
    auto refused = [&](const char* what, const std::function<void(WireMessage&)>& spoil) {
        CAPTURE(what);
        WireMessage m = good;
        spoil(m);
        CHECK(decode_signed(m, src) == DecodeStatus::kMalformed);
        // Fields are looked at only after authentication: signed for another source (or not
        // re-signed at all), the same bytes are a bad MAC and tell the sender nothing more.
        WireMessage for_other = m;
        sign(&for_other, other);
        Heartbeat out;
        CHECK(decode(for_other.data(), for_other.size(), kKey, src, 7, &out) ==
              DecodeStatus::kBadMac);
        CHECK(decode(m.data(), m.size(), kKey, src, 7, &out) == DecodeStatus::kBadMac);
    };
    refused("count 17", [](WireMessage& m) { m[kGroupCountAt] = kMaxAddressGroups + 1; });
    refused("count 255", [](WireMessage& m) { m[kGroupCountAt] = 255; });
    // Beyond the entries there are: refused even when all sixteen are valid.
    WireMessage full = encode(with_groups(kMaxAddressGroups), kKey, src);
    REQUIRE(decode_signed(full, src) == DecodeStatus::kOk);
    full[kGroupCountAt] = kMaxAddressGroups + 1;
    CHECK(decode_signed(full, src) == DecodeStatus::kMalformed);
    for (std::size_t b = kGroupCountAt + 1; b < kGroupsAt; ++b)
        refused("a reserved byte after the count", [b](WireMessage& m) { m[b] = 1; });
    // Every byte of every unused entry (groups 3..15).
    for (std::size_t b = entry_at(3); b < kHeaderSize; ++b)
        refused("a byte of an unused entry", [b](WireMessage& m) { m[b] = 0x80; });
    // A count of 2 leaves entry 2 (in use above) as an unused entry that is not all zero.
    refused("count below the entries", [](WireMessage& m) { m[kGroupCountAt] = 2; });
    refused("key 0", [](WireMessage& m) { std::memset(&m[entry_at(1) + kEntryKey], 0, 4); });
    refused("the same key twice", [](WireMessage& m) {
        std::memcpy(&m[entry_at(2) + kEntryKey], &m[entry_at(0) + kEntryKey], 4);
    });
    refused("state 4", [](WireMessage& m) { m[entry_at(1) + kEntryState] = kLastState + 1; });
    refused("state 255", [](WireMessage& m) { m[entry_at(0) + kEntryState] = 255; });
    refused("priority 255", [](WireMessage& m) { m[entry_at(2) + kEntryPriority] = 255; });
    refused("an unknown flag", [](WireMessage& m) { m[entry_at(0) + kEntryFlags] = 0x80; });
    refused("the entry's zero byte", [](WireMessage& m) { m[entry_at(1) + kEntryZero] = 1; });
    // In range, re-signed: accepted (the checks refuse exactly what is out of range).
    WireMessage edge = good;
    edge[entry_at(0) + kEntryState] = kLastState;
    edge[entry_at(0) + kEntryPriority] = kMaxPriority;
    edge[entry_at(0) + kEntryFlags] = kKnownFlags;
    edge[entry_at(0) + kEntryHandover] = 0xff;
    CHECK(decode_signed(edge, src) == DecodeStatus::kOk);
}

TEST_CASE("the MAC covers every byte of the group entries and of the count") {
    const auto src = wire_address_v4(kSrc4);
    const WireMessage m = encode(with_groups(kMaxAddressGroups), kKey, src);
    for (std::size_t b = kGroupCountAt; b < kHeaderSize; ++b) {
        WireMessage bad = m;
        bad[b] ^= 0x01;
        Heartbeat out;
        CHECK(decode(bad.data(), bad.size(), kKey, src, 7, &out) == DecodeStatus::kBadMac);
    }
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
    for (const WireMessage& m : {encode(sample(), kKey, src), encode(with_groups(5), kKey, src)})
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
    const WireMessage good = encode(with_groups(kMaxAddressGroups), kKey, src);
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
