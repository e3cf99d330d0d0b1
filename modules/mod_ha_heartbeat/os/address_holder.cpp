#include "address_holder.h"

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "../../common/unique_fd.h"
#include "address_announcer.h"

namespace ha_heartbeat {
namespace {

// Renew this many times per lifetime, so a couple of missed renewals do not drop the address.
constexpr int kRenewalsPerLifetime = 4;
// The announcements after a takeover: the first at once, then with a gap that starts here and
// doubles (0, 0.1, 0.3, 0.7, 1.5 s, ...), so that a moment of loss (a link just come up, a
// switch still learning the port) does not swallow them all.
constexpr std::chrono::milliseconds kFirstAnnounceGap{100};
constexpr int kAnnounceGapGrowth = 2;

}  // namespace

AddressHolder::AddressHolder(const HaConfig& config, const std::vector<std::size_t>& indices,
                             NetlinkAddresses& netlink, const LogFn& log)
    : config_(config), netlink_(netlink), log_(log) {
    for (std::size_t i : indices) {
        Entry e;
        e.address = config.service_addresses[i];
        entries_.push_back(e);
    }
}

bool AddressHolder::resolve(Entry& e) {
    e.ifindex = static_cast<int>(if_nametoindex(e.address.interface.c_str()));
    if (e.ifindex == 0) {
        const std::string err = "no interface " + e.address.interface;
        if (err != e.last_error)
            log_(kLogError, "HAServiceAddress " + e.address.text() + ": " + err);
        e.last_error = err;
        return false;
    }
    return true;
}

std::string AddressHolder::link_problem() const {
    const suite::UniqueFd fd(socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return "";  // cannot tell; do not fault on our own resource shortage
    std::string problem;
    for (const Entry& e : entries_) {
        ifreq ifr{};
        std::strncpy(ifr.ifr_name, e.address.interface.c_str(), IF_NAMESIZE - 1);
        if (ioctl(fd.get(), SIOCGIFFLAGS, &ifr) != 0) {
            problem = "interface " + e.address.interface + " is missing";
            break;
        }
        if (!(ifr.ifr_flags & IFF_UP) || !(ifr.ifr_flags & IFF_RUNNING)) {
            problem = "interface " + e.address.interface + " is down or has no carrier";
            break;
        }
    }
    return problem;
}

void AddressHolder::remove_stale() {
    for (Entry& e : entries_) {
        if (!resolve(e)) continue;
        std::string err;
        if (netlink_.present(e.address, e.ifindex, &err)) {
            err = netlink_.remove(e.address, e.ifindex);
            log_(err.empty() ? kLogWarning : kLogError,
                 "HAServiceAddress " + e.address.text() + " was on " + e.address.interface +
                     " while this node is not master: " +
                     (err.empty() ? "removed" : "removing failed: " + err));
        } else if (!err.empty()) {
            log_(kLogError, "listing addresses on " + e.address.interface + ": " + err);
        }
        e.added = false;
    }
}

void AddressHolder::add(Entry& e) {
    if (!resolve(e)) {
        e.added = false;
        return;
    }
    const std::string err = netlink_.add_or_renew(e.address, e.ifindex, config_.address_lifetime);
    if (!err.empty() && err != e.last_error)
        log_(kLogError, "adding " + e.address.text() + " to " + e.address.interface + ": " + err);
    e.last_error = err;
    e.added = err.empty();
}

void AddressHolder::announce_all() {
    for (Entry& e : entries_) {
        if (!e.added) continue;
        const std::string err = announce_address(e.address, e.ifindex);
        if (!err.empty())
            log_(kLogWarning,
                 "announcing " + e.address.text() + " on " + e.address.interface + ": " + err);
    }
}

void AddressHolder::claim(std::chrono::nanoseconds now) {
    holding_ = true;
    announcements_held_ = false;
    pending_release_ = std::chrono::nanoseconds{-1};
    for (Entry& e : entries_) add(e);
    announce_all();
    announcements_left_ = config_.gratuitous_arp_count - 1;
    announce_gap_ = kFirstAnnounceGap;
    next_announce_ = now + announce_gap_;
    next_renew_ = now + std::chrono::nanoseconds(config_.address_lifetime) / kRenewalsPerLifetime;
    next_refresh_ = now + config_.gratuitous_arp_refresh;
}

void AddressHolder::hold_announcements(bool on) {
    announcements_held_ = on;
    if (on) announcements_left_ = 0;
}

void AddressHolder::announce_again(std::chrono::nanoseconds now) {
    if (!holding_ || announcements_held_) return;
    announce_all();
    announcements_left_ = config_.gratuitous_arp_count - 1;
    announce_gap_ = kFirstAnnounceGap;
    next_announce_ = now + announce_gap_;
}

void AddressHolder::release_at(std::chrono::nanoseconds when) {
    pending_release_ = when;
    announcements_left_ = 0;  // the successor announces now, not us
}

void AddressHolder::release() {
    holding_ = false;
    pending_release_ = std::chrono::nanoseconds{-1};
    announcements_left_ = 0;
    for (Entry& e : entries_) {
        if (e.ifindex == 0 && !resolve(e)) continue;
        const std::string err = netlink_.remove(e.address, e.ifindex);
        if (!err.empty())
            log_(kLogError,
                 "removing " + e.address.text() + " from " + e.address.interface + ": " + err);
        e.added = false;
    }
}

void AddressHolder::poll(std::chrono::nanoseconds now) {
    if (!holding_) return;
    if (pending_release_.count() >= 0 && now >= pending_release_) {
        release();
        return;
    }
    if (now >= next_renew_) {
        for (Entry& e : entries_) add(e);
        next_renew_ =
            now + std::chrono::nanoseconds(config_.address_lifetime) / kRenewalsPerLifetime;
    }
    if (announcements_left_ > 0 && now >= next_announce_) {
        announce_all();
        --announcements_left_;
        announce_gap_ *= kAnnounceGapGrowth;
        next_announce_ = now + announce_gap_;
    }
    const bool releasing = pending_release_.count() >= 0;
    if (!releasing && !announcements_held_ && config_.gratuitous_arp_refresh.count() > 0 &&
        now >= next_refresh_) {
        announce_all();
        next_refresh_ = now + config_.gratuitous_arp_refresh;
    }
}

void AddressHolder::on_removed(const IpAddress& address, int ifindex,
                               std::chrono::nanoseconds now) {
    if (!holding_) return;
    for (Entry& e : entries_) {
        if (!(e.address.address == address) || e.ifindex != ifindex) continue;
        log_(kLogWarning, "service address " + e.address.text() + " was removed from " +
                              e.address.interface + " by someone else while master; re-adding");
        add(e);
        if (e.added) {
            const std::string err = announce_address(e.address, e.ifindex);
            if (!err.empty()) log_(kLogWarning, "announcing " + e.address.text() + ": " + err);
        }
    }
}

}  // namespace ha_heartbeat
