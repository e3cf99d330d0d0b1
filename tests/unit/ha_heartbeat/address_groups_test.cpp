#include "address_groups.h"

#include <catch2/catch.hpp>
#include <map>
#include <set>
#include <tuple>

#include "sim_group_cluster.h"

using namespace ha_heartbeat;
using namespace ha_heartbeat::testing;

namespace {

// Every node's plan of the same cluster: plans[node][group].
std::vector<std::vector<AddressGroup>> cluster_plans(std::size_t nodes,
                                                     const std::vector<ServiceAddress>& addresses) {
    std::vector<std::vector<AddressGroup>> plans;
    for (std::size_t i = 0; i < nodes; ++i)
        plans.push_back(plan_groups(group_node_config(i, nodes, addresses)));
    return plans;
}

// Who wins group g's election among the nodes `up`: the highest (priority, node id).
std::size_t winner(const std::vector<std::vector<AddressGroup>>& plans, std::size_t g,
                   const std::set<std::size_t>& up) {
    std::size_t best = plans.size();
    auto rank = [&](std::size_t i) {
        return std::make_tuple(plans[i][g].priority, node_id_for(node_name(i)));
    };
    for (std::size_t i : up)
        if (best == plans.size() || rank(i) > rank(best)) best = i;
    return best;
}

ServiceAddress with_options(ServiceAddress a, std::initializer_list<const char*> options) {
    for (const char* o : options) REQUIRE(apply_service_address_option(o, &a).empty());
    return a;
}

}  // namespace

TEST_CASE("a group key is a stable, non-zero FNV-1a of the group's name") {
    CHECK(group_key("web") == group_key("web"));
    CHECK(group_key("web") != group_key("api"));
    // The published FNV-1a test vector: the key is what the wire carries, so it must not drift
    // between builds or releases.
    CHECK(group_key("a") == 0xe40c292cu);
    CHECK(group_key("") == 2166136261u);
    // "7met1an" hashes to 0 under FNV-1a ("7met1a" hashes to 'n'); 0 marks an unused entry.
    CHECK(group_key("7met1an") == 1);
    CHECK(group_key("7met1ao") != 0);
}

TEST_CASE("the spread numbering sorts the heartbeat addresses, whatever the order of HAPeer") {
    const auto addresses = service_addresses(1);
    HaConfig c = group_node_config(2, 4, addresses);
    NodeOrdinal o = node_ordinal(c);
    CHECK(o.index == 2);
    CHECK(o.count == 4);
    std::reverse(c.peers.begin(), c.peers.end());
    o = node_ordinal(c);
    CHECK(o.index == 2);
    CHECK(o.count == 4);
    // A peer listed twice is one node.
    c.peers.push_back(c.peers.front());
    CHECK(node_ordinal(c).count == 4);
}

TEST_CASE("one service address is one group at HAPriority, as in the active/standby pair") {
    HaConfig c = group_node_config(0, 2, service_addresses(1));
    c.priority = 180;
    const auto plan = plan_groups(c);
    REQUIRE(plan.size() == 1);
    CHECK(plan[0].priority == 180);
    CHECK_FALSE(plan[0].home);
    CHECK(plan[0].name == "10.231.1.1/24");
    CHECK(plan[0].key == group_key("10.231.1.1/24"));
    CHECK(plan[0].addresses == std::vector<std::size_t>{0});
    // Several addresses in one group= are still one group at HAPriority.
    auto grouped = service_addresses(3);
    for (auto& a : grouped) a = with_options(a, {"group=web"});
    c.service_addresses = grouped;
    const auto one = plan_groups(c);
    REQUIRE(one.size() == 1);
    CHECK(one[0].priority == 180);
    CHECK(one[0].addresses == std::vector<std::size_t>{0, 1, 2});
}

TEST_CASE("spread: each group has exactly one home among the nodes and the homes are even") {
    for (const auto& [nodes, groups] :
         {std::pair<std::size_t, std::size_t>{3, 3}, {3, 6}, {4, 8}, {2, 4}, {8, 16}, {3, 4}}) {
        CAPTURE(nodes, groups);
        const auto plans = cluster_plans(nodes, service_addresses(groups));
        std::vector<std::size_t> homes_of(nodes, 0);
        for (std::size_t g = 0; g < groups; ++g) {
            std::size_t homes = 0;
            for (std::size_t i = 0; i < nodes; ++i) {
                REQUIRE(plans[i].size() == groups);
                CHECK(plans[i][g].key == plans[0][g].key);  // every node names it alike
                if (plans[i][g].home) {
                    ++homes;
                    ++homes_of[i];
                    CHECK(plans[i][g].priority == kHomePriority);
                } else {
                    CHECK(plans[i][g].priority >= kOtherPriorityLow);
                    CHECK(plans[i][g].priority <= kOtherPriorityHigh);
                }
            }
            CHECK(homes == 1);
            // With every node up, the home wins.
            std::set<std::size_t> all;
            for (std::size_t i = 0; i < nodes; ++i) all.insert(i);
            CHECK(plans[winner(plans, g, all)][g].home);
        }
        // Even: no node is home of more than one group above another.
        const auto [least, most] = std::minmax_element(homes_of.begin(), homes_of.end());
        CHECK(*most - *least <= 1);
        if (groups % nodes == 0)
            for (std::size_t n : homes_of) CHECK(n == groups / nodes);
    }
}

TEST_CASE("spread: a failed node's groups go to different survivors, no other group moves") {
    for (const auto& [nodes, groups] :
         {std::pair<std::size_t, std::size_t>{3, 3}, {3, 6}, {4, 8}, {5, 10}, {8, 16}}) {
        CAPTURE(nodes, groups);
        const auto plans = cluster_plans(nodes, service_addresses(groups));
        std::set<std::size_t> all;
        for (std::size_t i = 0; i < nodes; ++i) all.insert(i);
        for (std::size_t dead = 0; dead < nodes; ++dead) {
            CAPTURE(dead);
            std::set<std::size_t> survivors = all;
            survivors.erase(dead);
            std::map<std::size_t, std::size_t> taken;  // survivor -> groups it takes
            for (std::size_t g = 0; g < groups; ++g) {
                const std::size_t before = winner(plans, g, all);
                const std::size_t after = winner(plans, g, survivors);
                if (before == dead)
                    ++taken[after];
                else
                    CHECK(after == before);
            }
            // Each survivor takes at most one more than another (all of them one, or none, as
            // long as the failed node was home of no more groups than there are survivors).
            const std::size_t moved = groups / nodes;
            CHECK(taken.size() == std::min(moved, nodes - 1));
            for (const auto& [survivor, n] : taken) CHECK(n <= (moved + nodes - 2) / (nodes - 1));
        }
    }
}

TEST_CASE("group= puts addresses together, in the order their first address appears") {
    auto addresses = service_addresses(4);
    addresses[0] = with_options(addresses[0], {"group=web"});
    addresses[2] = with_options(addresses[2], {"group=web"});
    addresses[3] = with_options(addresses[3], {"group=api"});
    const auto plans = cluster_plans(3, addresses);
    const auto& plan = plans[0];
    REQUIRE(plan.size() == 3);
    CHECK(plan[0].name == "web");
    CHECK(plan[0].key == group_key("web"));
    CHECK(plan[0].addresses == std::vector<std::size_t>{0, 2});
    CHECK(plan[1].name == "10.231.1.2/24");
    CHECK(plan[1].addresses == std::vector<std::size_t>{1});
    CHECK(plan[2].name == "api");
    CHECK(plan[2].addresses == std::vector<std::size_t>{3});
    // Three groups on three nodes: one home each.
    for (std::size_t g = 0; g < 3; ++g) CHECK(plans[g][g].home);
}

TEST_CASE("prefer= ranks the named nodes first, best first, the others below them all") {
    auto addresses = service_addresses(3);
    // The list may stand on any address of the group: here on its second one.
    addresses[0] = with_options(addresses[0], {"group=web"});
    addresses[1] = with_options(addresses[1], {"group=web", "prefer=node-3,node-1"});
    const auto plans = cluster_plans(3, addresses);
    REQUIRE(plans[0].size() == 2);
    REQUIRE(plans[0][0].name == "web");
    CHECK(plans[2][0].priority == kHomePriority);
    CHECK(plans[2][0].home);
    CHECK(plans[0][0].priority == kHomePriority - kPreferStep);
    CHECK_FALSE(plans[0][0].home);
    CHECK(plans[1][0].priority <= kOtherPriorityHigh);
    CHECK(plans[1][0].priority >= kOtherPriorityLow);
    CHECK_FALSE(plans[1][0].home);
    std::set<std::size_t> up{0, 1, 2};
    CHECK(winner(plans, 0, up) == 2);
    up.erase(2);
    CHECK(winner(plans, 0, up) == 0);
    // The ungrouped address beside it is spread as usual (group 1: home node 1 of 3).
    CHECK(plans[1][1].home);
    CHECK(plans[1][1].priority == kHomePriority);
}

TEST_CASE("service address options are parsed, and refused with the option named") {
    ServiceAddress a = service_addresses(1)[0];
    CHECK(apply_service_address_option("group=web-1.a_b", &a).empty());
    CHECK(a.group == "web-1.a_b");
    CHECK(apply_service_address_option("prefer=proxy-a,proxy-b", &a).empty());
    CHECK(a.prefer == std::vector<std::string>{"proxy-a", "proxy-b"});
    CHECK(apply_service_address_option("prefer=proxy-c", &a).empty());
    CHECK(a.prefer == std::vector<std::string>{"proxy-c"});  // replaced, not appended

    auto refused = [](const std::string& option, const std::string& starts) {
        ServiceAddress b;
        const std::string why = apply_service_address_option(option, &b);
        CAPTURE(option, why);
        CHECK(why.rfind(starts, 0) == 0);
        CHECK(b.group.empty());
    };
    refused("colour=red", "unknown option 'colour=red'");
    refused("group", "unknown option 'group'");
    refused("prefer", "unknown option 'prefer'");
    refused("Group=web", "unknown option");
    refused("group=", "group=:");
    refused("group=has space", "group=:");
    refused("group=a/b", "group=:");
    refused("group=" + std::string(33, 'g'), "group=:");
    CHECK(apply_service_address_option("group=" + std::string(32, 'g'), &a).empty());
    refused("prefer=", "prefer=:");
    refused("prefer=a,,b", "prefer=:");
    refused("prefer=a,", "prefer=:");
    refused(",a", "unknown option");
    refused("prefer=,a", "prefer=:");
    refused("prefer=a,b,a", "prefer=: node 'a' named twice");
    refused("prefer=" + std::string(kMaxNodeNameBytes, 'n'), "prefer=:");
    CHECK(apply_service_address_option("prefer=" + std::string(kMaxNodeNameBytes - 1, 'n'), &a)
              .empty());
    std::string many = "prefer=n0";
    for (std::size_t i = 1; i < kMaxPeers; ++i) many += ",n" + std::to_string(i);
    CHECK(apply_service_address_option(many, &a).empty());
    refused(many + ",n99", "prefer=: at most");
}

TEST_CASE("validate refuses an address twice and a group with two different prefer= lists") {
    auto addresses = service_addresses(3);
    HaConfig c = group_node_config(0, 3, addresses);
    REQUIRE(validate(c).empty());
    c.service_addresses.push_back(*parse_service_address("10.231.1.2/16", "eth1").value);
    const std::string twice = validate(c);
    CHECK(twice.rfind("HAServiceAddress: 10.231.1.2/16 is configured twice", 0) == 0);

    addresses[0] = with_options(addresses[0], {"group=web", "prefer=node-1,node-2"});
    addresses[2] = with_options(addresses[2], {"group=web", "prefer=node-2,node-1"});
    c.service_addresses = addresses;
    const std::string conflict = validate(c);
    CHECK(conflict.rfind("HAServiceAddress: group web has two different prefer= lists", 0) == 0);
    // The same list twice, or a list on one address only, is one meaning: accepted.
    addresses[2] = with_options(addresses[2], {"prefer=node-1,node-2"});
    c.service_addresses = addresses;
    CHECK(validate(c).empty());
    addresses[2].prefer.clear();
    c.service_addresses = addresses;
    CHECK(validate(c).empty());
    // Different groups may prefer differently (crossed instances).
    addresses[2] = with_options(addresses[2], {"group=api", "prefer=node-2,node-1"});
    c.service_addresses = addresses;
    CHECK(validate(c).empty());
}

TEST_CASE("validate refuses two group names that hash to one key on the wire") {
    // FNV-1a collides for these two names (found by search); the message names both.
    REQUIRE(group_key("web1522789") == group_key("web1739192"));
    auto addresses = service_addresses(2);
    addresses[0] = with_options(addresses[0], {"group=web1522789"});
    addresses[1] = with_options(addresses[1], {"group=web1739192"});
    HaConfig c = group_node_config(0, 2, addresses);
    const std::string err = validate(c);
    CHECK(err.find("web1522789") != std::string::npos);
    CHECK(err.find("web1739192") != std::string::npos);
    CHECK(err.find("same key") != std::string::npos);
}
