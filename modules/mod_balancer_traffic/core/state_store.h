// The layout of the shared-memory segment that holds every balancer's scheduling state.
// One segment per server, created once and kept for the life of the httpd parent: a graceful
// restart finds each balancer's region again by key and goes on with what it learned.
//
//   [StoreHeader][Region key=..., capacity=N][MemberState x N][Region ...][MemberState x M]...
//
// Regions are only ever appended: children of an older generation may still be finishing
// requests against a region when a graceful restart lays out the new one.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../common/shared_mutex.h"
#include "member_state.h"
#include "share_history.h"

namespace balancer_traffic {

constexpr std::size_t kRegionKeySize = 128;

struct Region {
    char key[kRegionKeySize];
    std::uint32_t capacity;
    std::uint32_t method;  // which scheduler last used it; a change of lbmethod starts afresh
    suite::SharedMutex mutex;
    BalancerHeader header;
    ShareHistory history;

    MemberState* members() { return reinterpret_cast<MemberState*>(this + 1); }
    BalancerView view() { return BalancerView{&header, members()}; }
};

// Copies what `from` learned into the larger, empty `to` (same balancer, grown or moved).
void seed_region(Region* from, Region* to);

class StateStore {
  public:
    // Bytes needed for regions of the given capacities (plus the header).
    static std::size_t bytes_for(const std::uint32_t* capacities, std::size_t regions);

    // Lays out an empty store in `memory`. Returns nullptr if `size` is too small.
    static StateStore* format(void* memory, std::size_t size);
    // The store previously formatted at `memory`, or nullptr if it does not hold one.
    static StateStore* attach(void* memory, std::size_t size);

    // The newest region for `key` with at least `capacity` slots, created (and seeded from an
    // older, smaller region of the same key) if needed; nullptr if the store is full or the key
    // is too long.
    Region* region_for(const char* key, std::uint32_t capacity, MonoNanos now);

    // The region in use for `key`, or nullptr.
    Region* latest(const char* key) const;

    std::size_t bytes_free() const { return size_ - used_; }

  private:
    Region* append(const char* key, std::uint32_t capacity, MonoNanos now);

    std::uint64_t magic_;
    std::uint64_t size_;
    std::uint64_t used_;
    std::uint32_t region_count_;
    suite::SharedMutex layout_mutex_;
};

}  // namespace balancer_traffic
