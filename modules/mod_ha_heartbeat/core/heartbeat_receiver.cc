#include "heartbeat_receiver.h"

#include <openssl/rand.h>

#include <algorithm>
#include <stdexcept>

namespace ha_heartbeat {
namespace {

std::uint64_t random_challenge() {
    std::uint64_t c = 0;
    // A challenge an attacker could predict would let recorded heartbeats pass again: no
    // weaker fallback than the CSPRNG.
    while (c == 0)
        if (RAND_bytes(reinterpret_cast<unsigned char*>(&c), sizeof c) != 1)
            throw std::runtime_error("no random bytes for the heartbeat challenge");
    return c;
}

}  // namespace

HeartbeatReceiver::HeartbeatReceiver(SecretKey key, std::uint32_t cluster_id,
                                     std::uint32_t own_node_id, std::vector<WireAddress> peers,
                                     std::uint64_t challenge)
    : key_(std::move(key)),
      cluster_id_(cluster_id),
      own_node_id_(own_node_id),
      peers_(std::move(peers)),
      echoes_(peers_.size(), 0),
      challenge_(challenge != 0 ? challenge : random_challenge()) {}

std::uint64_t HeartbeatReceiver::echo_for(const WireAddress& peer) const {
    const auto it = std::find(peers_.begin(), peers_.end(), peer);
    return it == peers_.end() ? 0 : echoes_[static_cast<std::size_t>(it - peers_.begin())];
}

std::optional<Heartbeat> HeartbeatReceiver::accept(const std::uint8_t* data, std::size_t size,
                                                   const WireAddress& source) {
    const auto peer = std::find(peers_.begin(), peers_.end(), source);
    if (peer == peers_.end()) {
        ++drops_.unknown_source;
        return std::nullopt;
    }
    Heartbeat hb;
    switch (decode(data, size, key_, source, cluster_id_, &hb)) {
        case DecodeStatus::kOk:
            break;
        case DecodeStatus::kWrongSize:
            ++drops_.wrong_size;
            return std::nullopt;
        case DecodeStatus::kBadMagic:
            ++drops_.bad_magic;
            return std::nullopt;
        case DecodeStatus::kBadVersion:
            ++drops_.bad_version;
            return std::nullopt;
        case DecodeStatus::kBadMac:
            ++drops_.bad_mac;
            return std::nullopt;
        case DecodeStatus::kMalformed:
            ++drops_.malformed;
            return std::nullopt;
        case DecodeStatus::kWrongCluster:
            ++drops_.wrong_cluster;
            return std::nullopt;
    }
    if (hb.node_id == own_node_id_) {
        ++drops_.own_node_id;
        return std::nullopt;
    }
    switch (guard_.check_and_record(hb.node_id, hb.boot_epoch, hb.sequence)) {
        case ReplayGuard::Verdict::kFresh:
            break;
        case ReplayGuard::Verdict::kReplayed:
            ++drops_.replayed;
            return std::nullopt;
        case ReplayGuard::Verdict::kTableFull:
            ++drops_.table_full;
            return std::nullopt;
    }
    // Learnt only from fresh messages: a replay cannot make us echo a stale challenge for
    // longer than it takes the peer's next real heartbeat to arrive.
    echoes_[static_cast<std::size_t>(peer - peers_.begin())] = hb.challenge;
    if (hb.echo != challenge_) {
        // Echo 0: the peer has not heard from us yet (every first contact), not a drop.
        if (hb.echo == 0)
            ++awaiting_echo_;
        else
            ++drops_.unconfirmed;
        return std::nullopt;
    }
    ++accepted_;
    return hb;
}

}  // namespace ha_heartbeat
