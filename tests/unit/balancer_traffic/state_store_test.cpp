#include "state_store.h"

#include <catch2/catch.hpp>
#include <cstring>
#include <vector>

using namespace balancer_traffic;

TEST_CASE("the state store lays out regions by key and finds them again") {
    std::vector<std::uint32_t> capacities{4, 16};
    std::size_t bytes = StateStore::bytes_for(capacities.data(), capacities.size());
    std::vector<std::max_align_t> memory(bytes * 2 / sizeof(std::max_align_t) + 1);
    const std::size_t size = memory.size() * sizeof(std::max_align_t);
    StateStore* store = StateStore::format(memory.data(), size);
    REQUIRE(store);
    Region* a = store->region_for("a_balancer://one", 4, 100);
    Region* b = store->region_for("b_balancer://two", 16, 100);
    REQUIRE(a);
    REQUIRE(b);
    CHECK(a != b);
    CHECK(a->capacity == 4);
    a->members()[3].picks_total = 7;
    b->members()[15].picks_total = 9;
    CHECK(a->members()[3].picks_total == 7);  // regions do not overlap

    // A graceful restart attaches to the same memory and finds the same regions.
    StateStore* again = StateStore::attach(memory.data(), size);
    REQUIRE(again == store);
    CHECK(again->region_for("a_balancer://one", 4, 200) == a);
    CHECK(again->latest("b_balancer://two") == b);
}

TEST_CASE("a balancer that grows gets a larger region seeded with what it learned") {
    std::vector<std::max_align_t> memory(64 * 1024 / sizeof(std::max_align_t));
    const std::size_t size = memory.size() * sizeof(std::max_align_t);
    StateStore* store = StateStore::format(memory.data(), size);
    Region* small = store->region_for("x", 2, 100);
    small->members()[1].identity = 42;
    small->members()[1].scaled_bytes = 1234.5;
    small->header.picks_total = 77;
    Region* grown = store->region_for("x", 8, 200);
    REQUIRE(grown != small);
    CHECK(grown->capacity == 8);
    CHECK(grown->members()[1].identity == 42);
    CHECK(grown->members()[1].scaled_bytes == 1234.5);
    CHECK(grown->header.picks_total == 77);
    CHECK(grown->header.capacity == 8);
    CHECK(store->latest("x") == grown);
}

TEST_CASE("the state store refuses what does not fit and memory it did not format") {
    std::vector<std::max_align_t> memory(4096 / sizeof(std::max_align_t));
    const std::size_t size = memory.size() * sizeof(std::max_align_t);
    CHECK(StateStore::attach(memory.data(), size) == nullptr);
    StateStore* store = StateStore::format(memory.data(), size);
    REQUIRE(store);
    CHECK(store->region_for("too-big", 10000, 1) == nullptr);
    std::string long_key(200, 'k');
    CHECK(store->region_for(long_key.c_str(), 1, 1) == nullptr);
}
