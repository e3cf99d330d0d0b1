#include "address_groups.h"

#include <algorithm>
#include <tuple>

namespace ha_heartbeat {
namespace {

constexpr std::size_t kMaxGroupNameBytes = 32;
// Between two successors of a spread group: wide enough that the dead-interval skew still orders
// them (election.h), narrow enough that kMaxPeers - 1 successors stay in the "other" range.
constexpr int kSpreadStep =
    (kOtherPriorityHigh - kOtherPriorityLow) / static_cast<int>(kMaxPeers - 2);
static_assert(kOtherPriorityHigh - static_cast<int>(kMaxPeers - 2) * kSpreadStep >=
                  kOtherPriorityLow,
              "every successor of a spread group ranks in the other range");

bool valid_name(std::string_view s, std::size_t max) {
    if (s.empty() || s.size() > max) return false;
    for (char c : s)
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '.' || c == '_' || c == '-'))
            return false;
    return true;
}

// A well-mixed 32-bit value of (group, node), the same on every node (splitmix64's finaliser).
std::uint32_t mix(std::uint32_t group, std::uint32_t node) {
    std::uint64_t z = (std::uint64_t{group} << 32) | node;
    z += 0x9e3779b97f4a7c15ull;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return static_cast<std::uint32_t>(z ^ (z >> 31));
}

int other_priority(std::uint32_t group, std::uint32_t node) {
    const int span = kOtherPriorityHigh - kOtherPriorityLow + 1;
    return kOtherPriorityLow +
           static_cast<int>(mix(group, node) % static_cast<std::uint32_t>(span));
}

// Spread: group i's home is node h = i mod N; its successors are the other nodes in the order
// h + 1 + r, h + 2 + r, ... (mod N, skipping h), where r = i / N counts the groups node h is home
// of before this one. So the k-th group a node is home of goes, if it fails, to the k-th node
// after it: its groups spread over the survivors, one each before any survivor takes a second
// (with a hash of (group, node) instead, a node's two groups went to the same one of three
// survivors one time in three: address_groups_test).
int spread_priority(std::size_t group_index, const NodeOrdinal& me) {
    const std::size_t n = me.count;
    const std::size_t home = group_index % n;
    if (me.index == home) return kHomePriority;
    const std::size_t others = n - 1;
    const std::size_t round = group_index / n;
    const std::size_t distance = (me.index + n - home) % n;  // 1..n-1
    const std::size_t position = (distance - 1 + others - round % others) % others;
    return kOtherPriorityHigh - static_cast<int>(position) * kSpreadStep;
}

int prefer_priority(const std::vector<std::string>& prefer, const std::string& node_name,
                    std::uint32_t group, std::uint32_t node) {
    for (std::size_t i = 0; i < prefer.size(); ++i)
        if (prefer[i] == node_name) return kHomePriority - static_cast<int>(i) * kPreferStep;
    return other_priority(group, node);
}

bool address_less(const IpAddress& a, const IpAddress& b) {
    return std::tie(a.family, a.bytes) < std::tie(b.family, b.bytes);
}

}  // namespace

// The same FNV-1a as node ids (never 0): a group's key is to its name what a node's id is to
// HANodeName.
std::uint32_t group_key(std::string_view name) {
    return node_id_for(name);
}

NodeOrdinal node_ordinal(const HaConfig& c) {
    std::vector<IpAddress> nodes{c.listen.address};
    for (const Endpoint& p : c.peers) nodes.push_back(p.address);
    std::sort(nodes.begin(), nodes.end(), address_less);
    nodes.erase(std::unique(nodes.begin(), nodes.end()), nodes.end());
    NodeOrdinal o;
    o.count = nodes.size();
    o.index = static_cast<std::size_t>(std::find(nodes.begin(), nodes.end(), c.listen.address) -
                                       nodes.begin());
    return o;
}

std::vector<AddressGroup> plan_groups(const HaConfig& c) {
    std::vector<AddressGroup> groups;
    std::vector<const std::vector<std::string>*> prefers;
    for (std::size_t i = 0; i < c.service_addresses.size(); ++i) {
        const ServiceAddress& a = c.service_addresses[i];
        const std::string name = a.group.empty() ? a.text() : a.group;
        auto it = std::find_if(groups.begin(), groups.end(),
                               [&](const AddressGroup& g) { return g.name == name; });
        if (it == groups.end()) {
            AddressGroup g;
            g.name = name;
            g.key = group_key(name);
            groups.push_back(g);
            prefers.push_back(&a.prefer);
            it = groups.end() - 1;
        } else if (prefers[static_cast<std::size_t>(it - groups.begin())]->empty()) {
            prefers[static_cast<std::size_t>(it - groups.begin())] = &a.prefer;
        }
        it->addresses.push_back(i);
    }
    const std::uint32_t me = c.node_id();
    const NodeOrdinal ordinal = node_ordinal(c);
    for (std::size_t i = 0; i < groups.size(); ++i) {
        AddressGroup& g = groups[i];
        const std::vector<std::string>& prefer = *prefers[i];
        if (!prefer.empty()) {
            g.priority = prefer_priority(prefer, c.node_name, g.key, me);
            g.home = prefer.front() == c.node_name;
        } else if (groups.size() == 1) {
            g.priority = c.priority;
            g.home = false;
        } else {
            g.home = i % ordinal.count == ordinal.index;
            g.priority = spread_priority(i, ordinal);
        }
    }
    return groups;
}

std::string apply_service_address_option(std::string_view option, ServiceAddress* a) {
    const auto eq = option.find('=');
    const std::string_view key = option.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : option.substr(eq + 1);
    if (eq == std::string_view::npos || (key != "group" && key != "prefer"))
        return "unknown option '" + std::string(option) + "' (group=<name>, prefer=<node>,...)";
    if (key == "group") {
        if (!valid_name(value, kMaxGroupNameBytes))
            return "group=: a name of 1.." + std::to_string(kMaxGroupNameBytes) +
                   " characters [A-Za-z0-9._-]";
        a->group = std::string(value);
        return "";
    }
    a->prefer.clear();
    std::size_t start = 0;
    while (start <= value.size()) {
        const auto comma = value.find(',', start);
        const std::string_view node = value.substr(
            start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (!valid_name(node, kMaxNodeNameBytes - 1))
            return "prefer=: node names (HANodeName) separated by commas, got '" +
                   std::string(value) + "'";
        if (std::find(a->prefer.begin(), a->prefer.end(), node) != a->prefer.end())
            return "prefer=: node '" + std::string(node) + "' named twice";
        a->prefer.emplace_back(node);
        if (comma == std::string_view::npos) break;
        start = comma + 1;
    }
    if (a->prefer.size() > kMaxPeers)
        return "prefer=: at most " + std::to_string(kMaxPeers) + " nodes";
    return "";
}

std::string group_log_prefix(const AddressGroup& g, bool several) {
    if (!several) return "";
    return (g.addresses.size() == 1 ? "address " : "group ") + g.name + ": ";
}

}  // namespace ha_heartbeat
