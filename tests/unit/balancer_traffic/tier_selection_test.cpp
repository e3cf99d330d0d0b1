#include "tier_selection.h"

#include <catch2/catch.hpp>
#include <vector>

#include "fake_balancer.h"

using namespace balancer_traffic;
using namespace balancer_traffic::testing;

static std::vector<int> candidates(FakeBalancer& b) {
    select_candidates(b.inputs.data(), b.view().members, b.inputs.size());
    std::vector<int> out;
    for (std::size_t i = 0; i < b.inputs.size(); ++i)
        if (b.view().members[i].flags & kCandidate) out.push_back(static_cast<int>(i));
    return out;
}

TEST_CASE("the lowest lbset with a usable member is used") {
    FakeBalancer b({1});
    b.add_member(1, 1);
    b.add_member(1, 2);
    CHECK(candidates(b) == std::vector<int>{0});
    b.inputs[0].usable = false;
    CHECK(candidates(b) == std::vector<int>{1});
    b.inputs[1].draining = true;
    CHECK(candidates(b) == std::vector<int>{2});
    b.inputs[2].usable = false;
    CHECK(candidates(b).empty());
}

TEST_CASE("hot spares stand in one for one for missing regular members") {
    FakeBalancer b({1, 1});
    b.add_member(1, 0, MemberRole::kSpare);  // 2
    b.add_member(1, 0, MemberRole::kSpare);  // 3
    CHECK(candidates(b) == std::vector<int>{0, 1});
    b.inputs[0].usable = false;
    CHECK(candidates(b) == std::vector<int>{1, 2});
    b.inputs[1].draining = true;  // draining counts as missing
    CHECK(candidates(b) == std::vector<int>{2, 3});
}

TEST_CASE("hot standbys serve only when no regular member or spare of the set can") {
    FakeBalancer b({1});
    b.add_member(1, 0, MemberRole::kStandby);  // 1
    b.add_member(1, 1);                        // 2: a higher set
    CHECK(candidates(b) == std::vector<int>{0});
    b.inputs[0].usable = false;
    CHECK(candidates(b) == std::vector<int>{1});
    b.inputs[1].usable = false;
    CHECK(candidates(b) == std::vector<int>{2});
}

TEST_CASE("draining standbys and spares are never used") {
    FakeBalancer b({1});
    b.add_member(1, 0, MemberRole::kStandby);
    b.inputs[0].usable = false;
    b.inputs[1].draining = true;
    CHECK(candidates(b).empty());
}
