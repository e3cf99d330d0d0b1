// Fuzz target for the heartbeat decoder and receive path: whatever arrives, nothing is accepted
// without the key, nothing is read out of bounds, nothing crashes. Built as a libFuzzer target
// with clang (-DSUITE_FUZZ=ON), and otherwise linked with fuzz_driver.cpp, which replays files
// given on the command line and then a fixed number of seeded random inputs, so ctest runs it
// under ASan/UBSan on every build.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "heartbeat_receiver.h"
#include "wire_codec.h"

using namespace ha_heartbeat;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const SecretKey key("fuzzing key, at least 16 bytes");
    static const std::uint8_t source_v4[4] = {10, 231, 0, 2};
    static const WireAddress source = wire_address_v4(source_v4);
    Heartbeat hb;
    if (decode(data, size, key, source, 1, &hb) == DecodeStatus::kOk) std::abort();
    HeartbeatReceiver receiver(key, 1, 7, {source}, 0x5eed);
    if (receiver.accept(data, size, source).has_value()) std::abort();
    // The same bytes as the fields of a correctly signed message: the field checks run on
    // arbitrary values, and whatever they accept must be in range and survive a round trip.
    if (size >= kHeaderSize) {
        Heartbeat in;
        in.cluster_id = 1;
        in.state = static_cast<NodeState>(data[0]);
        in.priority = data[1];
        in.flags = data[2];
        in.node_id = static_cast<std::uint32_t>(data[3]) << 24 | data[4];
        in.interval_us = static_cast<std::uint32_t>(data[5]) << 16 | data[6] << 8 | data[7];
        in.handover_to = data[8];
        in.boot_epoch = data[9];
        in.sequence = data[10];
        in.challenge = data[11];
        in.echo = data[12] & 1 ? 0x5eed : data[13];
        const WireMessage m = encode(in, key, source);
        Heartbeat out;
        if (decode(m.data(), m.size(), key, source, 1, &out) == DecodeStatus::kOk) {
            if (out.priority > kMaxPriority || static_cast<int>(out.state) > kLastState ||
                out.node_id != in.node_id || out.sequence != in.sequence || out.node_id == 0 ||
                out.challenge == 0 || out.challenge != in.challenge || out.echo != in.echo)
                std::abort();
            // Accepted by a receiver only when it echoes that receiver's challenge.
            HeartbeatReceiver fresh(key, 1, 7, {source}, 0x5eed);
            const bool should = in.echo == 0x5eed && out.node_id != 7;  // 7: the receiver itself
            if (fresh.accept(m.data(), m.size(), source).has_value() != should) std::abort();
        }
    }
    return 0;
}
