#include "heartbeat_receiver.h"

#include <algorithm>

namespace ha_heartbeat {

std::optional<Heartbeat> HeartbeatReceiver::accept(const std::uint8_t* data, std::size_t size,
                                                   const WireAddress& source) {
    if (std::find(peers_.begin(), peers_.end(), source) == peers_.end()) {
        ++drops_.unknown_source;
        return std::nullopt;
    }
    Heartbeat hb;
    switch (decode(data, size, key_, source, cluster_id_, &hb)) {
        case DecodeStatus::Ok:
            break;
        case DecodeStatus::WrongSize:
            ++drops_.wrong_size;
            return std::nullopt;
        case DecodeStatus::BadMagic:
            ++drops_.bad_magic;
            return std::nullopt;
        case DecodeStatus::BadVersion:
            ++drops_.bad_version;
            return std::nullopt;
        case DecodeStatus::BadMac:
            ++drops_.bad_mac;
            return std::nullopt;
        case DecodeStatus::Malformed:
            ++drops_.malformed;
            return std::nullopt;
        case DecodeStatus::WrongCluster:
            ++drops_.wrong_cluster;
            return std::nullopt;
    }
    if (hb.node_id == own_node_id_) {
        ++drops_.own_node_id;
        return std::nullopt;
    }
    switch (guard_.check_and_record(hb.node_id, hb.boot_epoch, hb.sequence)) {
        case ReplayGuard::Verdict::Fresh:
            break;
        case ReplayGuard::Verdict::Replayed:
            ++drops_.replayed;
            return std::nullopt;
        case ReplayGuard::Verdict::TableFull:
            ++drops_.table_full;
            return std::nullopt;
    }
    ++accepted_;
    return hb;
}

}  // namespace ha_heartbeat
