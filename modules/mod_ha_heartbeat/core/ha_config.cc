#include "ha_config.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <openssl/crypto.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "address_groups.h"

namespace ha_heartbeat {
namespace {

constexpr std::uint32_t kFnvOffset = 2166136261u;
constexpr std::uint32_t kFnvPrime = 16777619u;
constexpr int kIpv4Bits = 32;
constexpr int kIpv6Bits = 128;
constexpr std::size_t kMaxPortDigits = 5;
constexpr unsigned long kMaxPort = 65535;

template <class T>
suite::Parsed<T> fail(std::string why) {
    suite::Parsed<T> p;
    p.error = std::move(why);
    return p;
}

bool parse_port(std::string_view text, std::uint16_t* port) {
    if (text.empty() || text.size() > kMaxPortDigits) return false;
    unsigned long v = 0;
    for (char c : text) {
        if (c < '0' || c > '9') return false;
        v = v * 10 + static_cast<unsigned long>(c - '0');
    }
    if (v == 0 || v > kMaxPort) return false;
    *port = static_cast<std::uint16_t>(v);
    return true;
}

}  // namespace

WireAddress IpAddress::wire() const {
    if (family == AF_INET6) return bytes;
    const std::uint8_t v4[4] = {bytes[0], bytes[1], bytes[2], bytes[3]};
    return wire_address_v4(v4);
}

std::string IpAddress::text() const {
    char buf[INET6_ADDRSTRLEN] = {};
    if (!inet_ntop(family == AF_INET6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf))
        return "?";
    return buf;
}

std::string Endpoint::text() const {
    return address.family == AF_INET6 ? "[" + address.text() + "]:" + std::to_string(port)
                                      : address.text() + ":" + std::to_string(port);
}

std::string ServiceAddress::text() const {
    return address.text() + "/" + std::to_string(prefix_length);
}

std::uint32_t node_id_for(std::string_view name) {
    std::uint32_t h = kFnvOffset;
    for (char c : name) {
        h ^= static_cast<std::uint8_t>(c);
        h *= kFnvPrime;
    }
    return h == 0 ? 1 : h;
}

std::uint32_t HaConfig::node_id() const {
    return node_id_for(node_name);
}

ElectionConfig HaConfig::election(int group_priority) const {
    ElectionConfig e;
    e.node_id = node_id();
    e.priority = group_priority;
    e.interval = interval;
    e.dead_interval = dead_interval;
    e.preempt = preempt;
    e.preempt_delay = preempt_delay;
    // A lower master drains before it hands over to a returning better node: wait for the
    // drain, plus the handover's own time limit, before claiming over its head.
    if (drain_timeout.count() > 0)
        e.preempt_handover_wait = drain_timeout + kPreemptHandoverMarginIntervals * interval;
    return e;
}

suite::Parsed<IpAddress> parse_ip(std::string_view text) {
    if (text.empty() || text.size() >= INET6_ADDRSTRLEN)
        return fail<IpAddress>("not an IP address");
    std::string s(text);
    IpAddress a;
    if (inet_pton(AF_INET, s.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET;
    } else if (inet_pton(AF_INET6, s.c_str(), a.bytes.data()) == 1) {
        a.family = AF_INET6;
    } else {
        return fail<IpAddress>("'" + s + "' is not an IPv4 or IPv6 address");
    }
    suite::Parsed<IpAddress> p;
    p.value = a;
    return p;
}

suite::Parsed<Endpoint> parse_endpoint(std::string_view text, std::uint16_t default_port) {
    Endpoint e;
    e.port = default_port;
    std::string_view host = text;
    if (!text.empty() && text.front() == '[') {
        const auto close = text.find(']');
        if (close == std::string_view::npos)
            return fail<Endpoint>("missing ']' in '" + std::string(text) + "'");
        host = text.substr(1, close - 1);
        std::string_view rest = text.substr(close + 1);
        if (!rest.empty()) {
            if (rest.front() != ':' || !parse_port(rest.substr(1), &e.port))
                return fail<Endpoint>("bad port in '" + std::string(text) + "'");
        }
    } else if (std::count(text.begin(), text.end(), ':') == 1) {
        const auto colon = text.find(':');
        host = text.substr(0, colon);
        if (!parse_port(text.substr(colon + 1), &e.port))
            return fail<Endpoint>("bad port in '" + std::string(text) + "'");
    }
    auto ip = parse_ip(host);
    if (!ip) return fail<Endpoint>(ip.error);
    e.address = *ip.value;
    suite::Parsed<Endpoint> p;
    p.value = e;
    return p;
}

suite::Parsed<ServiceAddress> parse_service_address(std::string_view cidr,
                                                    std::string_view ifname) {
    const auto slash = cidr.find('/');
    if (slash == std::string_view::npos)
        return fail<ServiceAddress>("expected <address>/<prefix length>, got '" +
                                    std::string(cidr) + "'");
    auto ip = parse_ip(cidr.substr(0, slash));
    if (!ip) return fail<ServiceAddress>(ip.error);
    const std::string_view len = cidr.substr(slash + 1);
    int prefix = 0;
    if (len.empty() || len.size() > 3) return fail<ServiceAddress>("bad prefix length");
    for (char c : len) {
        if (c < '0' || c > '9') return fail<ServiceAddress>("bad prefix length");
        prefix = prefix * 10 + (c - '0');
    }
    const int max_bits = ip.value->family == AF_INET ? kIpv4Bits : kIpv6Bits;
    if (prefix < 1 || prefix > max_bits)
        return fail<ServiceAddress>("prefix length must be 1.." + std::to_string(max_bits));
    if (ifname.empty() || ifname.size() >= IF_NAMESIZE)
        return fail<ServiceAddress>("bad interface name '" + std::string(ifname) + "'");
    ServiceAddress s;
    s.address = *ip.value;
    s.prefix_length = prefix;
    s.interface = std::string(ifname);
    suite::Parsed<ServiceAddress> p;
    p.value = s;
    return p;
}

suite::Parsed<SecretKey> read_secret_file(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) return fail<SecretKey>("cannot open '" + path + "': " + std::strerror(errno));
    struct FdCloser {
        int fd;
        ~FdCloser() { ::close(fd); }
    } closer{fd};
    struct stat st {};
    if (::fstat(fd, &st) != 0)
        return fail<SecretKey>("cannot stat '" + path + "': " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) return fail<SecretKey>("'" + path + "' is not a regular file");
    if (st.st_mode & (S_IRWXO | S_IWGRP | S_IRGRP))
        return fail<SecretKey>(
            "'" + path +
            "' is accessible by group or others; chmod 600 it (refusing to use a "
            "key others can read)");
    if (st.st_size <= 0) return fail<SecretKey>("'" + path + "' is empty");
    if (static_cast<std::size_t>(st.st_size) > kMaxSecretBytes)
        return fail<SecretKey>("'" + path + "' is larger than " + std::to_string(kMaxSecretBytes) +
                               " bytes");
    // Read straight into a SecretKey, so that every return path wipes the buffer.
    SecretKey key;
    std::string& k = key.mutable_bytes();
    k.assign(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < k.size()) {
        const ssize_t n = ::read(fd, k.data() + got, k.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    k.resize(got);
    while (!k.empty() && (k.back() == '\n' || k.back() == '\r')) k.pop_back();
    if (k.empty()) return fail<SecretKey>("'" + path + "' holds no key");
    if (k.size() < kMinSecretBytes)
        return fail<SecretKey>("'" + path + "' holds a key of " + std::to_string(k.size()) +
                               " bytes; at least " + std::to_string(kMinSecretBytes) +
                               " are required (e.g. head -c 32 /dev/urandom | base64 > " + path +
                               ")");
    suite::Parsed<SecretKey> p;
    p.value = std::move(key);
    return p;
}

std::string resolve_user(HaConfig* c) {
    const std::string hint = "; create it (adduser --system --group --no-create-home " +
                             std::string(kDefaultHaUser) +
                             ", as the package and .ci/install-deps do) or name another "
                             "unprivileged user with HAUser";
    if (c->user.empty()) return "HAUser: empty user name" + hint;
    struct passwd pw {};
    struct passwd* found = nullptr;
    std::string buf(16384, '\0');
    const int rc = ::getpwnam_r(c->user.c_str(), &pw, buf.data(), buf.size(), &found);
    if (rc != 0 || found == nullptr)
        return "HAUser: no system user '" + c->user + "'" +
               (rc != 0 ? std::string(" (") + std::strerror(rc) + ")" : std::string()) + hint;
    if (pw.pw_uid == 0)
        return "HAUser: '" + c->user +
               "' is root; the heartbeat process needs only CAP_NET_ADMIN and CAP_NET_RAW";
    c->user_id = pw.pw_uid;
    c->group_id = pw.pw_gid;
    c->user_resolved = true;
    return "";
}

std::string validate(const HaConfig& c) {
    if (!c.enabled) return "";
    if (c.node_name.empty()) return "HANodeName: required when HAHeartbeat is On";
    if (!c.listen_set) return "HAListen: required when HAHeartbeat is On";
    if (c.peers.empty()) return "HAPeer: at least one peer is required when HAHeartbeat is On";
    if (c.peers.size() >= kMaxPeers)
        return "HAPeer: at most " + std::to_string(kMaxPeers - 1) + " peers";
    if (c.service_addresses.size() > kMaxServiceAddresses)
        return "HAServiceAddress: at most " + std::to_string(kMaxServiceAddresses) + " addresses";
    for (const Endpoint& p : c.peers)
        if (p.address.family != c.listen.address.family)
            return "HAPeer: " + p.text() + " is not of the same address family as HAListen " +
                   c.listen.text();
    if (c.secret_file.empty()) return "HASecretFile: required when HAHeartbeat is On";
    if (c.service_addresses.empty())
        return "HAServiceAddress: at least one is required when HAHeartbeat is On";
    for (std::size_t i = 0; i < c.service_addresses.size(); ++i)
        for (std::size_t j = 0; j < i; ++j) {
            const ServiceAddress& a = c.service_addresses[i];
            const ServiceAddress& b = c.service_addresses[j];
            if (a.address == b.address)
                return "HAServiceAddress: " + a.text() + " is configured twice";
            if (!a.group.empty() && a.group == b.group && !a.prefer.empty() && !b.prefer.empty() &&
                a.prefer != b.prefer)
                return "HAServiceAddress: group " + a.group + " has two different prefer= lists (" +
                       b.text() + ", " + a.text() + ")";
        }
    // Heartbeats name groups by a 32-bit hash of their names: two names with one hash would
    // make every message carry a key twice (refused by every peer as malformed).
    const std::vector<AddressGroup> groups = plan_groups(c);
    for (std::size_t i = 0; i < groups.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (groups[i].key == groups[j].key)
                return "HAServiceAddress: the groups " + groups[j].name + " and " + groups[i].name +
                       " have the same key on the wire; rename one (group=)";
    if (c.dead_interval.count() > 0 && c.dead_interval <= c.interval)
        return "HADeadInterval: must be longer than HAInterval";
    if (c.epoch_file.empty()) return "HAStateFile: no path for the boot epoch";
    return "";
}

}  // namespace ha_heartbeat
