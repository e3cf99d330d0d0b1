// Fuzz target for the heartbeat decoder and receive path: whatever arrives, nothing is accepted
// without the key, nothing is read out of bounds, nothing crashes. Built as a libFuzzer target
// with clang (-DSUITE_FUZZ=ON), and otherwise linked with fuzz_driver.cpp, which replays files
// given on the command line and then a fixed number of seeded random inputs, so ctest runs it
// under ASan/UBSan on every build.
//
// Three uses of each input:
//   1. as a datagram: never accepted (no key);
//   2. as the fields of a heartbeat, group entries included, that the encoder signs: whatever
//      the decoder accepts must be in range and what was encoded;
//   3. as edits (offset, value pairs) to a valid signed message with group entries, signed
//      again after the edits: the field checks, which only run on authentic messages, see
//      arbitrary values in every byte, and whatever they accept must encode back to the same
//      bytes (one message, one meaning) and read the same through group_view.
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "group_elections.h"
#include "heartbeat_receiver.h"
#include "wire_codec.h"

using namespace ha_heartbeat;

namespace {

constexpr std::uint32_t kCluster = 1;
constexpr std::uint32_t kReceiverNode = 7;
constexpr std::uint64_t kReceiverChallenge = 0x5eed;
// Bytes of input that part 2 reads for the fixed fields, and then per group entry.
constexpr std::size_t kFieldBytes = 15;
constexpr std::size_t kEntryBytes = 8;

const SecretKey& key() {
    static const SecretKey k("fuzzing key, at least 16 bytes");
    return k;
}

const WireAddress& source() {
    static const std::uint8_t v4[4] = {10, 231, 0, 2};
    static const WireAddress a = wire_address_v4(v4);
    return a;
}

std::uint32_t get32(const std::uint8_t* p) {
    return std::uint32_t{p[0]} << 24 | std::uint32_t{p[1]} << 16 | std::uint32_t{p[2]} << 8 | p[3];
}

bool same(const GroupBeat& a, const GroupBeat& b) {
    return a.key == b.key && a.state == b.state && a.priority == b.priority && a.flags == b.flags &&
           a.handover_to == b.handover_to;
}

// What an accepted heartbeat must satisfy, whoever built it.
void check_accepted(const Heartbeat& out) {
    if (out.priority > kMaxPriority || static_cast<int>(out.state) > kLastState ||
        out.node_id == 0 || out.challenge == 0 || out.group_count > kMaxAddressGroups)
        std::abort();
    for (std::size_t i = 0; i < kMaxAddressGroups; ++i) {
        const GroupBeat& g = out.groups[i];
        if (i >= out.group_count) {
            if (!same(g, GroupBeat{})) std::abort();
            continue;
        }
        if (g.key == 0 || static_cast<int>(g.state) > kLastState || g.priority > kMaxPriority ||
            (g.flags & ~kKnownFlags) != 0)
            std::abort();
        for (std::size_t j = 0; j < i; ++j)
            if (out.groups[j].key == g.key) std::abort();
        // Each group's election hears exactly its entry.
        const auto view = group_view(out, g.key);
        if (!view || view->state != g.state || view->priority != g.priority ||
            view->flags != g.flags || view->handover_to != g.handover_to ||
            view->node_id != out.node_id || view->sequence != out.sequence)
            std::abort();
    }
}

void sign(WireMessage* m) {
    std::uint8_t input[kHeaderSize + sizeof(WireAddress)];
    std::memcpy(input, m->data(), kHeaderSize);
    std::memcpy(input + kHeaderSize, source().data(), source().size());
    unsigned int length = 0;
    const std::string& k = key().bytes();
    if (HMAC(EVP_sha256(), k.data(), static_cast<int>(k.size()), input, sizeof input,
             m->data() + kHeaderSize, &length) == nullptr ||
        length != kMacSize)
        std::abort();
}

// 1. Unsigned bytes are never accepted.
void as_datagram(const std::uint8_t* data, std::size_t size) {
    Heartbeat hb;
    if (decode(data, size, key(), source(), kCluster, &hb) == DecodeStatus::kOk) std::abort();
    HeartbeatReceiver receiver(key(), kCluster, kReceiverNode, {source()}, kReceiverChallenge);
    if (receiver.accept(data, size, source()).has_value()) std::abort();
}

// 2. The bytes as the fields of a correctly signed message.
void as_fields(const std::uint8_t* data, std::size_t size) {
    if (size < kFieldBytes) return;
    Heartbeat in;
    in.cluster_id = kCluster;
    // Each field a little beyond its range (so that both sides of every check come up often),
    // or raw where most values are valid.
    in.state = static_cast<NodeState>(data[0] % (kLastState + 2));
    in.priority = data[1];
    in.flags = static_cast<std::uint8_t>(data[2] % (kKnownFlags + 2));
    in.node_id = static_cast<std::uint32_t>(data[3]) << 24 | data[4];
    in.interval_us = static_cast<std::uint32_t>(data[5]) << 16 | data[6] << 8 | data[7];
    in.handover_to = data[8];
    in.boot_epoch = data[9];
    in.sequence = data[10];
    in.challenge = data[11];
    in.echo = data[12] & 1 ? kReceiverChallenge : data[13];
    // Up to kMaxAddressGroups + 1: the encoder must clamp what it is given.
    in.group_count = static_cast<std::uint8_t>(data[14] % (kMaxAddressGroups + 2));
    const std::uint8_t* entry = data + kFieldBytes;
    for (std::size_t i = 0; i < kMaxAddressGroups && entry + kEntryBytes <= data + size; ++i) {
        GroupBeat& g = in.groups[i];
        // Small keys, so that duplicates and 0 come up often.
        g.key = entry[0] % 8 == 0 ? get32(entry) : entry[0] % 8;
        g.state = static_cast<NodeState>(entry[4] % (kLastState + 2));
        g.priority = entry[5];
        g.flags = static_cast<std::uint8_t>(entry[6] % (kKnownFlags + 2));
        g.handover_to = entry[7];
        entry += kEntryBytes;
    }
    const WireMessage m = encode(in, key(), source());
    Heartbeat out;
    if (decode(m.data(), m.size(), key(), source(), kCluster, &out) != DecodeStatus::kOk) return;
    check_accepted(out);
    if (out.node_id != in.node_id || out.sequence != in.sequence || out.challenge != in.challenge ||
        out.echo != in.echo ||
        out.group_count != std::min<std::size_t>(in.group_count, kMaxAddressGroups))
        std::abort();
    for (std::size_t i = 0; i < out.group_count; ++i)
        if (!same(out.groups[i], in.groups[i])) std::abort();
    // Accepted by a receiver only when it echoes that receiver's challenge.
    HeartbeatReceiver fresh(key(), kCluster, kReceiverNode, {source()}, kReceiverChallenge);
    const bool should = in.echo == kReceiverChallenge && out.node_id != kReceiverNode;
    if (fresh.accept(m.data(), m.size(), source()).has_value() != should) std::abort();
}

// 3. The bytes as edits to a valid message, signed after the edits.
void as_edits(const std::uint8_t* data, std::size_t size) {
    if (size < 1) return;
    Heartbeat base;
    base.cluster_id = kCluster;
    base.node_id = 42;
    base.state = NodeState::kMaster;
    base.priority = 150;
    base.interval_us = 100000;
    base.challenge = 0x0123456789abcdefull;
    base.group_count = static_cast<std::uint8_t>(data[0] % (kMaxAddressGroups + 1));
    for (std::size_t i = 0; i < base.group_count; ++i)
        base.groups[i] = GroupBeat{static_cast<std::uint32_t>(i + 1), NodeState::kBackup,
                                   static_cast<std::uint8_t>(100 + i), 0, 0};
    WireMessage m = encode(base, key(), source());
    // The magic and version stay: past them, everything a sender holding the key could send.
    constexpr std::size_t kFirstEditable = 5;
    for (std::size_t i = 1; i + 1 < size; i += 2)
        m[kFirstEditable + data[i] % (kHeaderSize - kFirstEditable)] = data[i + 1];
    sign(&m);
    Heartbeat out;
    if (decode(m.data(), m.size(), key(), source(), kCluster, &out) != DecodeStatus::kOk) return;
    check_accepted(out);
    const WireMessage again = encode(out, key(), source());
    if (std::memcmp(again.data(), m.data(), kWireSize) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    as_datagram(data, size);
    as_fields(data, size);
    as_edits(data, size);
    return 0;
}
