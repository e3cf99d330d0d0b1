// The service addresses as a lease: while master they are added with a kernel lifetime that is
// renewed well before it runs out, announced a configured number of times (and optionally
// re-announced periodically), and re-added at once if someone removes them. A holder that
// stops renewing (SIGKILLed) loses them when the lifetime ends. No httpd headers.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "../core/ha_config.h"
#include "child_commands.h"
#include "netlink_addresses.h"

namespace ha_heartbeat {

class AddressHolder {
  public:
    // Holds the service addresses at `indices` (one address group, address_groups.h).
    AddressHolder(const HaConfig& config, const std::vector<std::size_t>& indices,
                  NetlinkAddresses& netlink, const LogFn& log);

    // A node that is not master must not answer for the addresses: remove leftovers.
    void remove_stale();
    void claim(std::chrono::nanoseconds now);
    void release();
    // Releases at `when` (from poll), unless claim() comes first.
    void release_at(std::chrono::nanoseconds when);
    // Starts the announcement burst again (another node claimed the addresses too).
    void announce_again(std::chrono::nanoseconds now);
    // While on, no announcement at all (burst, refresh, announce_again): a planned move is
    // under way and the successor is about to announce; one more of ours after its claim would
    // send its clients back here, where their connections are reset. Off again at claim().
    void hold_announcements(bool on);
    // Renewals and announcements that are due.
    void poll(std::chrono::nanoseconds now);
    // An address deletion seen on netlink.
    void on_removed(const IpAddress& address, int ifindex, std::chrono::nanoseconds now);

    // "" when every service interface is up with a carrier, else what is wrong. A node whose
    // link is down must not hold the addresses (keepalived's FAULT on interface down).
    std::string link_problem() const;

    bool holding() const { return holding_; }
    std::size_t count() const { return entries_.size(); }
    const ServiceAddress& address(std::size_t i) const { return entries_[i].address; }
    bool held(std::size_t i) const { return entries_[i].added; }

  private:
    struct Entry {
        ServiceAddress address;
        int ifindex = 0;
        bool added = false;
        std::string last_error;
    };
    bool resolve(Entry& e);
    void add(Entry& e);
    void announce_all();

    const HaConfig& config_;
    NetlinkAddresses& netlink_;
    const LogFn& log_;
    std::vector<Entry> entries_;
    bool holding_ = false;
    std::chrono::nanoseconds pending_release_{-1};
    std::chrono::nanoseconds next_renew_{0};
    std::chrono::nanoseconds next_announce_{0};
    int announcements_left_ = 0;
    std::chrono::nanoseconds announce_gap_{0};
    std::chrono::nanoseconds next_refresh_{0};
    bool announcements_held_ = false;
};

}  // namespace ha_heartbeat
