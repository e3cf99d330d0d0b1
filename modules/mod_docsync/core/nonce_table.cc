#include "nonce_table.h"

#include <cstring>
#include <new>

namespace docsync {

namespace {
constexpr std::uint64_t kMagic = 0x646f6373796e6e31ull;  // "docsynn1"

int hex_digit(char c) {
    return c <= '9' ? c - '0' : c - 'a' + 10;
}
}  // namespace

std::size_t NonceTable::bytes_needed(std::size_t capacity) {
    return sizeof(NonceTable) + capacity * sizeof(Slot);
}

NonceTable* NonceTable::create(void* memory, std::size_t capacity) {
    auto* t = new (memory) NonceTable;
    t->magic_ = kMagic;
    t->capacity_ = capacity;
    std::memset(t->slots(), 0, capacity * sizeof(Slot));
    return t;
}

NonceTable* NonceTable::attach(void* memory, std::size_t bytes) {
    auto* t = static_cast<NonceTable*>(memory);
    if (bytes < sizeof(NonceTable) || t->magic_ != kMagic ||
        bytes < bytes_needed(static_cast<std::size_t>(t->capacity_)))
        return nullptr;
    return t;
}

NonceResult NonceTable::remember(std::string_view nonce_hex, std::int64_t now,
                                 std::int64_t horizon) {
    unsigned char raw[kNonceRawBytes] = {};
    for (std::size_t i = 0; i < kNonceRawBytes && 2 * i + 1 < nonce_hex.size(); ++i)
        raw[i] = static_cast<unsigned char>(hex_digit(nonce_hex[2 * i]) * 16 +
                                            hex_digit(nonce_hex[2 * i + 1]));
    // Nonces are random: their first bytes are already a good hash.
    std::uint64_t h;
    std::memcpy(&h, raw, sizeof h);
    Slot* free_slot = nullptr;
    for (std::size_t probe = 0; probe < kMaxNonceProbes; ++probe) {
        Slot& s = slots()[(h + probe) % capacity_];
        bool live = s.accepted != 0 && s.accepted >= horizon;
        if (live && std::memcmp(s.nonce, raw, kNonceRawBytes) == 0) return NonceResult::kReplayed;
        if (!live && !free_slot) free_slot = &s;
        if (s.accepted == 0) break;  // never used: the chain ends here
    }
    if (!free_slot) return NonceResult::kFull;
    free_slot->accepted = now > 0 ? now : 1;
    std::memcpy(free_slot->nonce, raw, kNonceRawBytes);
    return NonceResult::kFresh;
}

}  // namespace docsync
