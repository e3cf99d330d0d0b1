#include "state_store.h"

#include <cstring>

namespace balancer_traffic {
namespace {

constexpr std::uint64_t kStoreMagic = 0x42616c5472616635ULL;  // "BalTraf5", changes with layout

constexpr std::size_t align_up(std::size_t n) {
    constexpr std::size_t kAlign = alignof(std::max_align_t);
    return (n + kAlign - 1) / kAlign * kAlign;
}

std::size_t region_bytes(std::uint32_t capacity) {
    return align_up(sizeof(Region) + std::size_t{capacity} * sizeof(MemberState));
}

}  // namespace

std::size_t StateStore::bytes_for(const std::uint32_t* capacities, std::size_t regions) {
    std::size_t total = align_up(sizeof(StateStore));
    for (std::size_t i = 0; i < regions; ++i) total += region_bytes(capacities[i]);
    return total;
}

StateStore* StateStore::format(void* memory, std::size_t size) {
    if (size < align_up(sizeof(StateStore))) return nullptr;
    std::memset(memory, 0, align_up(sizeof(StateStore)));
    auto* store = static_cast<StateStore*>(memory);
    store->size_ = size;
    store->used_ = align_up(sizeof(StateStore));
    store->region_count_ = 0;
    if (!store->layout_mutex_.init()) return nullptr;
    store->magic_ = kStoreMagic;
    return store;
}

StateStore* StateStore::attach(void* memory, std::size_t size) {
    auto* store = static_cast<StateStore*>(memory);
    if (size < sizeof(StateStore) || store->magic_ != kStoreMagic || store->size_ != size)
        return nullptr;
    return store;
}

Region* StateStore::latest(const char* key) const {
    // The newest region of a key is the one in use; older ones stay for old children.
    Region* found = nullptr;
    std::size_t offset = align_up(sizeof(StateStore));
    auto* base = reinterpret_cast<char*>(const_cast<StateStore*>(this));
    for (std::uint32_t i = 0; i < region_count_; ++i) {
        auto* region = reinterpret_cast<Region*>(base + offset);
        if (std::strncmp(region->key, key, kRegionKeySize) == 0) found = region;
        offset += region_bytes(region->capacity);
    }
    return found;
}

Region* StateStore::append(const char* key, std::uint32_t capacity, MonoNanos now) {
    std::size_t need = region_bytes(capacity);
    if (need > size_ - used_) return nullptr;
    auto* region = reinterpret_cast<Region*>(reinterpret_cast<char*>(this) + used_);
    std::memset(region, 0, need);
    std::strncpy(region->key, key, kRegionKeySize - 1);
    region->capacity = capacity;
    if (!region->mutex.init()) return nullptr;
    region->header.capacity = capacity;
    region->header.decay_origin = now;
    used_ += need;
    region_count_ += 1;
    return region;
}

Region* StateStore::region_for(const char* key, std::uint32_t capacity, MonoNanos now) {
    if (std::strlen(key) >= kRegionKeySize) return nullptr;
    suite::SharedLock layout(layout_mutex_);
    Region* existing = latest(key);
    if (existing && existing->capacity >= capacity) return existing;
    Region* fresh = append(key, capacity, now);
    if (fresh && existing) seed_region(existing, fresh);
    return fresh;
}

void seed_region(Region* from, Region* to) {
    if (from->capacity > to->capacity) return;
    suite::SharedLock old(from->mutex);
    to->method = from->method;
    const std::uint32_t capacity = to->header.capacity;
    to->header = from->header;
    to->header.capacity = capacity;
    to->history = from->history;
    std::memcpy(to->members(), from->members(), std::size_t{from->capacity} * sizeof(MemberState));
}

}  // namespace balancer_traffic
