#include "netlink_addresses.h"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <linux/rtnetlink.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <vector>

namespace ha_heartbeat {
namespace {

constexpr int kIpv4Bytes = 4;
constexpr int kIpv6Bytes = 16;
// Bounds the replies read for one request, so a confused kernel cannot keep us reading forever.
constexpr int kMaxReplyReads = 1024;

int address_bytes(int family) {
    return family == AF_INET6 ? kIpv6Bytes : kIpv4Bytes;
}

std::vector<char> netlink_buffer() {
    return std::vector<char>(MNL_SOCKET_BUFFER_SIZE);
}

struct AddressMatch {
    const ServiceAddress* wanted;
    int ifindex;
    bool found = false;
};

// Extracts (family, address, ifindex) from an RTM_NEWADDR/RTM_DELADDR message.
bool parse_address(const nlmsghdr* nlh, IpAddress* out, int* ifindex) {
    const auto* ifa = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
    if (ifa->ifa_family != AF_INET && ifa->ifa_family != AF_INET6) return false;
    struct Found {
        const nlattr* local = nullptr;
        const nlattr* address = nullptr;
    } found;
    mnl_attr_parse(
        nlh, sizeof(*ifa),
        [](const nlattr* attr, void* data) -> int {
            auto* f = static_cast<Found*>(data);
            if (mnl_attr_get_type(attr) == IFA_LOCAL) f->local = attr;
            if (mnl_attr_get_type(attr) == IFA_ADDRESS) f->address = attr;
            return MNL_CB_OK;
        },
        &found);
    const nlattr* use = found.local ? found.local : found.address;
    const int n = address_bytes(ifa->ifa_family);
    if (!use || mnl_attr_get_payload_len(use) != static_cast<uint16_t>(n)) return false;
    out->family = ifa->ifa_family;
    out->bytes = {};
    std::memcpy(out->bytes.data(), mnl_attr_get_payload(use), static_cast<std::size_t>(n));
    *ifindex = static_cast<int>(ifa->ifa_index);
    return true;
}

nlmsghdr* put_address(void* buf, std::uint16_t type, std::uint16_t flags, const ServiceAddress& a,
                      int ifindex) {
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf);
    nlh->nlmsg_type = type;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | flags;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = static_cast<unsigned char>(a.address.family);
    ifa->ifa_prefixlen = static_cast<unsigned char>(a.prefix_length);
    ifa->ifa_scope = RT_SCOPE_UNIVERSE;
    ifa->ifa_index = static_cast<unsigned>(ifindex);
    const auto n = static_cast<std::size_t>(address_bytes(a.address.family));
    mnl_attr_put(nlh, IFA_LOCAL, n, a.address.bytes.data());
    mnl_attr_put(nlh, IFA_ADDRESS, n, a.address.bytes.data());
    return nlh;
}

}  // namespace

void MnlSocketCloser::operator()(mnl_socket* s) const {
    if (s) mnl_socket_close(s);
}

std::unique_ptr<NetlinkAddresses> NetlinkAddresses::open(std::string* error) {
    MnlSocket s(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC));
    if (!s || mnl_socket_bind(s.get(), 0, MNL_SOCKET_AUTOPID) < 0) {
        *error = std::string("netlink socket: ") + std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<NetlinkAddresses>(new NetlinkAddresses(std::move(s)));
}

NetlinkAddresses::NetlinkAddresses(MnlSocket s)
    : socket_(std::move(s)),
      port_id_(mnl_socket_get_portid(socket_.get())),
      sequence_(static_cast<unsigned>(std::time(nullptr))) {}

std::string NetlinkAddresses::request(void* buf,
                                      const std::function<void(const void*, std::size_t)>& each) {
    auto* nlh = static_cast<nlmsghdr*>(buf);
    nlh->nlmsg_seq = ++sequence_;
    if (mnl_socket_sendto(socket_.get(), nlh, nlh->nlmsg_len) < 0)
        return std::string("netlink send: ") + std::strerror(errno);
    auto reply = netlink_buffer();
    for (int reads = 0; reads < kMaxReplyReads; ++reads) {
        const ssize_t n = mnl_socket_recvfrom(socket_.get(), reply.data(), reply.size());
        if (n < 0) return std::string("netlink receive: ") + std::strerror(errno);
        if (each) each(reply.data(), static_cast<std::size_t>(n));
        const int rc = mnl_cb_run(reply.data(), static_cast<std::size_t>(n), nlh->nlmsg_seq,
                                  port_id_, nullptr, nullptr);
        if (rc == MNL_CB_ERROR) return std::strerror(errno);
        if (rc == MNL_CB_STOP) return "";
    }
    return "netlink: no end of reply";
}

std::string NetlinkAddresses::add_or_renew(const ServiceAddress& a, int ifindex,
                                           std::chrono::seconds lifetime) {
    auto buf = netlink_buffer();
    nlmsghdr* nlh = put_address(buf.data(), RTM_NEWADDR, NLM_F_CREATE | NLM_F_REPLACE, a, ifindex);
    ifa_cacheinfo lifetimes{};
    lifetimes.ifa_prefered = static_cast<std::uint32_t>(lifetime.count());
    lifetimes.ifa_valid = static_cast<std::uint32_t>(lifetime.count());
    mnl_attr_put(nlh, IFA_CACHEINFO, sizeof lifetimes, &lifetimes);
    if (a.address.family == AF_INET6) {
        auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_get_payload(nlh));
        ifa->ifa_flags = IFA_F_NODAD;
        mnl_attr_put_u32(nlh, IFA_FLAGS, IFA_F_NODAD);
    }
    return request(buf.data(), nullptr);
}

std::string NetlinkAddresses::remove(const ServiceAddress& a, int ifindex) {
    auto buf = netlink_buffer();
    put_address(buf.data(), RTM_DELADDR, 0, a, ifindex);
    std::string err = request(buf.data(), nullptr);
    if (err == std::strerror(EADDRNOTAVAIL) || err == std::strerror(ENOENT) ||
        err == std::strerror(ESRCH))
        return "";
    return err;
}

bool NetlinkAddresses::present(const ServiceAddress& a, int ifindex, std::string* error) {
    auto buf = netlink_buffer();
    nlmsghdr* nlh = mnl_nlmsg_put_header(buf.data());
    nlh->nlmsg_type = RTM_GETADDR;
    nlh->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    auto* ifa = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(nlh, sizeof(ifaddrmsg)));
    ifa->ifa_family = static_cast<unsigned char>(a.address.family);
    bool found = false;
    *error = request(buf.data(), [&](const void* data, std::size_t size) {
        const auto* msg = static_cast<const nlmsghdr*>(data);
        int remaining = static_cast<int>(size);
        while (mnl_nlmsg_ok(msg, remaining)) {
            IpAddress addr;
            int index = 0;
            if (msg->nlmsg_type == RTM_NEWADDR && parse_address(msg, &addr, &index) &&
                index == ifindex && addr == a.address)
                found = true;
            msg = mnl_nlmsg_next(msg, &remaining);
        }
    });
    return found;
}

std::unique_ptr<AddressMonitor> AddressMonitor::open(std::string* error) {
    MnlSocket s(mnl_socket_open2(NETLINK_ROUTE, SOCK_CLOEXEC | SOCK_NONBLOCK));
    if (!s ||
        mnl_socket_bind(s.get(), RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR, MNL_SOCKET_AUTOPID) < 0) {
        *error = std::string("netlink monitor socket: ") + std::strerror(errno);
        return nullptr;
    }
    return std::unique_ptr<AddressMonitor>(new AddressMonitor(std::move(s)));
}

int AddressMonitor::fd() const {
    return mnl_socket_get_fd(socket_.get());
}

void AddressMonitor::drain(const std::function<void(const IpAddress&, int ifindex)>& removed) {
    auto buf = netlink_buffer();
    for (int reads = 0; reads < kMaxReplyReads; ++reads) {
        const ssize_t n = mnl_socket_recvfrom(socket_.get(), buf.data(), buf.size());
        if (n <= 0) return;  // EAGAIN: nothing more; ENOBUFS: we lost events, the renew covers it
        const auto* msg = reinterpret_cast<const nlmsghdr*>(buf.data());
        int remaining = static_cast<int>(n);
        while (mnl_nlmsg_ok(msg, remaining)) {
            IpAddress addr;
            int index = 0;
            if (msg->nlmsg_type == RTM_DELADDR && parse_address(msg, &addr, &index))
                removed(addr, index);
            msg = mnl_nlmsg_next(msg, &remaining);
        }
    }
}

}  // namespace ha_heartbeat
