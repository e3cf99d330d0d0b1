// Adding, renewing and removing the service addresses through rtnetlink (libmnl), and watching
// for addresses someone else removed. The only file that speaks netlink; no httpd headers.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "../core/ha_config.h"

struct mnl_socket;

namespace ha_heartbeat {

// A netlink socket owned by a C++ scope.
struct MnlSocketCloser {
    void operator()(mnl_socket* s) const;
};
using MnlSocket = std::unique_ptr<mnl_socket, MnlSocketCloser>;

class NetlinkAddresses {
  public:
    // Returns nullptr and sets `error` when the socket cannot be opened.
    static std::unique_ptr<NetlinkAddresses> open(std::string* error);

    // Adds the address with a kernel lifetime, or renews the lifetime of the one already there
    // (NLM_F_REPLACE). IPv6 addresses get IFA_F_NODAD: a split brain must not leave them
    // "dadfailed". Returns "" or the error text.
    std::string add_or_renew(const ServiceAddress& a, int ifindex, std::chrono::seconds lifetime);
    // Removing an address that is not there is not an error.
    std::string remove(const ServiceAddress& a, int ifindex);
    // Whether the address is configured on the interface.
    bool present(const ServiceAddress& a, int ifindex, std::string* error);

  private:
    explicit NetlinkAddresses(MnlSocket s);
    std::string request(void* buf, const std::function<void(const void*, std::size_t)>& each);

    MnlSocket socket_;
    unsigned int port_id_ = 0;
    unsigned int sequence_ = 0;
};

// Subscribed to address notifications; non-blocking.
class AddressMonitor {
  public:
    static std::unique_ptr<AddressMonitor> open(std::string* error);
    int fd() const;
    // Calls `removed` for every address deletion announced since the last call.
    void drain(const std::function<void(const IpAddress&, int ifindex)>& removed);

  private:
    explicit AddressMonitor(MnlSocket s) : socket_(std::move(s)) {}
    MnlSocket socket_;
};

}  // namespace ha_heartbeat
