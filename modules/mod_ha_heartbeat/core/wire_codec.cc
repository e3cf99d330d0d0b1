#include "wire_codec.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <algorithm>
#include <cstring>

namespace ha_heartbeat {
namespace {

void put16(std::uint8_t* p, std::uint16_t v) {
    p[0] = static_cast<std::uint8_t>(v >> 8);
    p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
    put16(p, static_cast<std::uint16_t>(v >> 16));
    put16(p + 2, static_cast<std::uint16_t>(v));
}
void put64(std::uint8_t* p, std::uint64_t v) {
    put32(p, static_cast<std::uint32_t>(v >> 32));
    put32(p + 4, static_cast<std::uint32_t>(v));
}
std::uint32_t get32(const std::uint8_t* p) {
    return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
           std::uint32_t{p[3]};
}
std::uint64_t get64(const std::uint8_t* p) {
    return (std::uint64_t{get32(p)} << 32) | get32(p + 4);
}

// Offsets of the layout documented in the header.
constexpr std::size_t kOffMagic = 0, kOffVersion = 4, kOffState = 5, kOffPriority = 6,
                      kOffFlags = 7, kOffCluster = 8, kOffNode = 12, kOffInterval = 16,
                      kOffHandover = 20, kOffEpoch = 24, kOffSequence = 32, kOffChallenge = 40,
                      kOffEcho = 48;
static_assert(kOffEcho + 8 == kFixedHeaderSize, "header layout");
constexpr std::size_t kOffGroupCount = 56, kOffGroups = 60;
constexpr std::size_t kGroupKey = 0, kGroupState = 4, kGroupPriority = 5, kGroupFlags = 6,
                      kGroupZero = 7, kGroupHandover = 8;
static_assert(kOffGroups + kMaxAddressGroups * kGroupEntrySize == kHeaderSize, "groups layout");

bool state_and_priority_valid(std::uint8_t state, std::uint8_t priority, std::uint8_t flags) {
    return state <= kLastState && priority <= kMaxPriority && (flags & ~kKnownFlags) == 0;
}

bool all_zero(const std::uint8_t* p, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i)
        if (p[i] != 0) return false;
    return true;
}

// The group entries: a count in range, keys non-zero and distinct, fields in range, unused
// bytes zero (so one message has one meaning).
bool decode_groups(const std::uint8_t* data, Heartbeat* hb) {
    const std::uint8_t count = data[kOffGroupCount];
    if (count > kMaxAddressGroups || !all_zero(data + kOffGroupCount + 1, 3)) return false;
    hb->group_count = count;
    for (std::size_t i = 0; i < kMaxAddressGroups; ++i) {
        const std::uint8_t* e = data + kOffGroups + i * kGroupEntrySize;
        if (i >= count) {
            if (!all_zero(e, kGroupEntrySize)) return false;
            continue;
        }
        GroupBeat& g = hb->groups[i];
        g.key = get32(e + kGroupKey);
        if (g.key == 0 || e[kGroupZero] != 0 ||
            !state_and_priority_valid(e[kGroupState], e[kGroupPriority], e[kGroupFlags]))
            return false;
        for (std::size_t j = 0; j < i; ++j)
            if (hb->groups[j].key == g.key) return false;
        g.state = static_cast<NodeState>(e[kGroupState]);
        g.priority = e[kGroupPriority];
        g.flags = e[kGroupFlags];
        g.handover_to = get32(e + kGroupHandover);
    }
    return true;
}

bool compute_mac(const std::uint8_t* header, const SecretKey& key, const WireAddress& source,
                 std::uint8_t (&mac)[kMacSize]) {
    std::uint8_t input[kHeaderSize + sizeof(WireAddress)];
    std::memcpy(input, header, kHeaderSize);
    std::memcpy(input + kHeaderSize, source.data(), source.size());
    unsigned int length = 0;
    const std::string& k = key.bytes();
    return HMAC(EVP_sha256(), k.data(), static_cast<int>(k.size()), input, sizeof input, mac,
                &length) != nullptr &&
           length == kMacSize;
}

}  // namespace

const char* state_name(NodeState s) {
    switch (s) {
        case NodeState::kInit:
            return "INIT";
        case NodeState::kBackup:
            return "BACKUP";
        case NodeState::kMaster:
            return "MASTER";
        case NodeState::kFault:
            return "FAULT";
    }
    return "UNKNOWN";
}

const char* decode_status_name(DecodeStatus s) {
    switch (s) {
        case DecodeStatus::kOk:
            return "ok";
        case DecodeStatus::kWrongSize:
            return "wrong_size";
        case DecodeStatus::kBadMagic:
            return "bad_magic";
        case DecodeStatus::kBadVersion:
            return "bad_version";
        case DecodeStatus::kBadMac:
            return "bad_mac";
        case DecodeStatus::kMalformed:
            return "malformed";
        case DecodeStatus::kWrongCluster:
            return "wrong_cluster";
    }
    return "unknown";
}

void SecretKey::wipe() noexcept {
    // The whole capacity: a key trimmed in place leaves bytes beyond size() (resize up to the
    // capacity never reallocates).
    bytes_.resize(bytes_.capacity());
    if (!bytes_.empty()) OPENSSL_cleanse(bytes_.data(), bytes_.size());
    bytes_.clear();
}

SecretKey::~SecretKey() {
    wipe();
}

WireAddress wire_address_v4(const std::uint8_t (&v4)[4]) {
    WireAddress a{};
    a[10] = 0xff;
    a[11] = 0xff;
    std::memcpy(a.data() + 12, v4, 4);
    return a;
}

WireMessage encode(const Heartbeat& hb, const SecretKey& key, const WireAddress& source) {
    WireMessage m{};
    put32(&m[kOffMagic], kMagic);
    m[kOffVersion] = kWireVersion;
    m[kOffState] = static_cast<std::uint8_t>(hb.state);
    m[kOffPriority] = hb.priority;
    m[kOffFlags] = hb.flags;
    put32(&m[kOffCluster], hb.cluster_id);
    put32(&m[kOffNode], hb.node_id);
    put32(&m[kOffInterval], hb.interval_us);
    put32(&m[kOffHandover], hb.handover_to);
    put64(&m[kOffEpoch], hb.boot_epoch);
    put64(&m[kOffSequence], hb.sequence);
    put64(&m[kOffChallenge], hb.challenge);
    put64(&m[kOffEcho], hb.echo);
    const std::size_t count = std::min<std::size_t>(hb.group_count, kMaxAddressGroups);
    m[kOffGroupCount] = static_cast<std::uint8_t>(count);
    for (std::size_t i = 0; i < count; ++i) {
        const GroupBeat& g = hb.groups[i];
        std::uint8_t* e = &m[kOffGroups + i * kGroupEntrySize];
        put32(e + kGroupKey, g.key);
        e[kGroupState] = static_cast<std::uint8_t>(g.state);
        e[kGroupPriority] = g.priority;
        e[kGroupFlags] = g.flags;
        put32(e + kGroupHandover, g.handover_to);
    }
    std::uint8_t mac[kMacSize];
    if (!compute_mac(m.data(), key, source, mac)) {
        // Unreachable with a working libcrypto; an all-zero MAC will never verify.
        std::memset(mac, 0, sizeof mac);
    }
    std::memcpy(&m[kHeaderSize], mac, kMacSize);
    return m;
}

DecodeStatus decode(const std::uint8_t* data, std::size_t size, const SecretKey& key,
                    const WireAddress& source, std::uint32_t cluster_id, Heartbeat* out) {
    if (data == nullptr || size != kWireSize) return DecodeStatus::kWrongSize;
    if (get32(data + kOffMagic) != kMagic) return DecodeStatus::kBadMagic;
    if (data[kOffVersion] != kWireVersion) return DecodeStatus::kBadVersion;
    std::uint8_t mac[kMacSize];
    if (key.empty() || !compute_mac(data, key, source, mac)) return DecodeStatus::kBadMac;
    if (CRYPTO_memcmp(mac, data + kHeaderSize, kMacSize) != 0) return DecodeStatus::kBadMac;
    // Fields are checked only after authentication: an unauthenticated sender learns nothing
    // from which check failed.
    Heartbeat hb;
    if (!state_and_priority_valid(data[kOffState], data[kOffPriority], data[kOffFlags]))
        return DecodeStatus::kMalformed;
    hb.state = static_cast<NodeState>(data[kOffState]);
    hb.priority = data[kOffPriority];
    hb.flags = data[kOffFlags];
    if (!decode_groups(data, &hb)) return DecodeStatus::kMalformed;
    hb.cluster_id = get32(data + kOffCluster);
    hb.node_id = get32(data + kOffNode);
    hb.interval_us = get32(data + kOffInterval);
    hb.handover_to = get32(data + kOffHandover);
    hb.boot_epoch = get64(data + kOffEpoch);
    hb.sequence = get64(data + kOffSequence);
    hb.challenge = get64(data + kOffChallenge);
    hb.echo = get64(data + kOffEcho);
    const auto min_us = std::chrono::duration_cast<std::chrono::microseconds>(kMinInterval);
    const auto max_us = std::chrono::duration_cast<std::chrono::microseconds>(kMaxInterval);
    if (hb.node_id == 0 || hb.challenge == 0 || hb.interval_us < min_us.count() ||
        hb.interval_us > max_us.count())
        return DecodeStatus::kMalformed;
    if (hb.cluster_id != cluster_id) return DecodeStatus::kWrongCluster;
    *out = hb;
    return DecodeStatus::kOk;
}

}  // namespace ha_heartbeat
