#include "address_announcer.h"

#include <arpa/inet.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "../../common/unique_fd.h"

namespace ha_heartbeat {
namespace {

constexpr int kMacBytes = 6;
constexpr int kIpv4Bytes = 4;
constexpr int kNdHopLimit = 255;            // RFC 4861: receivers drop ND with any other hop limit
constexpr std::uint8_t kNdOptionUnits = 1;  // option length in 8-byte units: type, len, MAC

std::string error(const char* what) {
    return std::string(what) + ": " + std::strerror(errno);
}

bool interface_mac(int fd, int ifindex, std::uint8_t (&mac)[kMacBytes], std::string* err) {
    ifreq ifr{};
    if (!if_indextoname(static_cast<unsigned>(ifindex), ifr.ifr_name)) {
        *err = error("if_indextoname");
        return false;
    }
    if (ioctl(fd, SIOCGIFHWADDR, &ifr) != 0) {
        *err = error("SIOCGIFHWADDR");
        return false;
    }
    std::memcpy(mac, ifr.ifr_hwaddr.sa_data, kMacBytes);
    return true;
}

#pragma pack(push, 1)
struct ArpPacket {
    arphdr header;
    std::uint8_t sender_mac[kMacBytes];
    std::uint8_t sender_ip[kIpv4Bytes];
    std::uint8_t target_mac[kMacBytes];
    std::uint8_t target_ip[kIpv4Bytes];
};
struct NeighbourAdvert {
    nd_neighbor_advert advert;
    std::uint8_t option_type;
    std::uint8_t option_length;
    std::uint8_t mac[kMacBytes];
};
#pragma pack(pop)

std::string gratuitous_arp(const ServiceAddress& a, int ifindex) {
    suite::UniqueFd fd(socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC, htons(ETH_P_ARP)));
    if (fd.get() < 0) return error("packet socket");
    ArpPacket p{};
    std::string err;
    if (!interface_mac(fd.get(), ifindex, p.sender_mac, &err)) return err;
    p.header.ar_hrd = htons(ARPHRD_ETHER);
    p.header.ar_pro = htons(ETH_P_IP);
    p.header.ar_hln = kMacBytes;
    p.header.ar_pln = kIpv4Bytes;
    // An ARP request for our own address (sender = target) updates every cache that has it.
    p.header.ar_op = htons(ARPOP_REQUEST);
    std::memcpy(p.sender_ip, a.address.bytes.data(), kIpv4Bytes);
    std::memcpy(p.target_ip, a.address.bytes.data(), kIpv4Bytes);
    sockaddr_ll to{};
    to.sll_family = AF_PACKET;
    to.sll_protocol = htons(ETH_P_ARP);
    to.sll_ifindex = ifindex;
    to.sll_halen = kMacBytes;
    std::memset(to.sll_addr, 0xff, kMacBytes);
    if (sendto(fd.get(), &p, sizeof p, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
        return error("gratuitous ARP");
    return "";
}

std::string unsolicited_na(const ServiceAddress& a, int ifindex) {
    suite::UniqueFd fd(socket(AF_INET6, SOCK_RAW | SOCK_CLOEXEC, IPPROTO_ICMPV6));
    if (fd.get() < 0) return error("ICMPv6 socket");
    suite::UniqueFd probe(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    NeighbourAdvert na{};
    std::string err;
    if (!interface_mac(probe.get(), ifindex, na.mac, &err)) return err;
    const int hops = kNdHopLimit;
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops);
    const auto index = static_cast<unsigned>(ifindex);
    setsockopt(fd.get(), IPPROTO_IPV6, IPV6_MULTICAST_IF, &index, sizeof index);
    sockaddr_in6 from{};
    from.sin6_family = AF_INET6;
    std::memcpy(&from.sin6_addr, a.address.bytes.data(), sizeof from.sin6_addr);
    if (bind(fd.get(), reinterpret_cast<sockaddr*>(&from), sizeof from) != 0)
        return error("bind to the service address");
    na.advert.nd_na_type = ND_NEIGHBOR_ADVERT;
    na.advert.nd_na_flags_reserved = ND_NA_FLAG_OVERRIDE;
    std::memcpy(&na.advert.nd_na_target, a.address.bytes.data(), sizeof na.advert.nd_na_target);
    na.option_type = ND_OPT_TARGET_LINKADDR;
    na.option_length = kNdOptionUnits;
    sockaddr_in6 to{};
    to.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "ff02::1", &to.sin6_addr);
    to.sin6_scope_id = index;
    // The kernel fills in the ICMPv6 checksum for raw ICMPv6 sockets.
    if (sendto(fd.get(), &na, sizeof na, 0, reinterpret_cast<sockaddr*>(&to), sizeof to) < 0)
        return error("unsolicited neighbour advertisement");
    return "";
}

}  // namespace

std::string announce_address(const ServiceAddress& a, int ifindex) {
    return a.address.family == AF_INET6 ? unsolicited_na(a, ifindex) : gratuitous_arp(a, ifindex);
}

}  // namespace ha_heartbeat
