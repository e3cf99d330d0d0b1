#include "long_poll_cap.h"

#include <charconv>
#include <new>

namespace docsync {

namespace {
constexpr std::uint64_t kTableMagic = 0x646f6373'6c706331;  // "docslpc1"
constexpr unsigned kMaxPercent = 99;

bool parse_unsigned(std::string_view s, unsigned* out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
    return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}
}  // namespace

bool parse_long_poll_share(std::string_view text, LongPollShare* out, std::string* error) {
    LongPollShare share;
    unsigned n = 0;
    if (!text.empty() && text.back() == '%') {
        if (!parse_unsigned(text.substr(0, text.size() - 1), &n) || n < 1 || n > kMaxPercent) {
            *error = "a share of MaxRequestWorkers from 1% to " + std::to_string(kMaxPercent) +
                     "%, not " + std::string(text);
            return false;
        }
        share.percent = n;
    } else {
        if (!parse_unsigned(text, &n) || n < 1) {
            *error =
                "a number of long polls (at least 1) or a share of MaxRequestWorkers "
                "such as 25%, not " +
                std::string(text);
            return false;
        }
        share.count = n;
    }
    *out = share;
    return true;
}

std::string describe(const LongPollShare& share) {
    return share.count ? std::to_string(share.count) : std::to_string(share.percent) + "%";
}

bool long_poll_cap(const LongPollShare& share, unsigned max_request_workers, unsigned* cap,
                   std::string* error) {
    if (share.count) {
        if (share.count >= max_request_workers) {
            *error = std::to_string(share.count) + " long polls would leave none of the " +
                     std::to_string(max_request_workers) +
                     " workers of MaxRequestWorkers to ordinary requests";
            return false;
        }
        *cap = share.count;
        return true;
    }
    const std::uint64_t by_share =
        static_cast<std::uint64_t>(max_request_workers) * share.percent / 100;
    *cap = by_share ? static_cast<unsigned>(by_share) : 1;
    if (*cap >= max_request_workers) {
        *error = "MaxRequestWorkers " + std::to_string(max_request_workers) +
                 " leaves no worker for long polls besides ordinary requests";
        return false;
    }
    return true;
}

LongPollTable::LongPollTable(std::size_t entries) : magic_(kTableMagic), entries_(entries) {
    for (std::size_t i = 0; i < entries_; ++i) {
        Entry* e = new (&entry_array()[i]) Entry;
        e->pid.store(0);
        e->waiting.store(0);
    }
}

std::size_t LongPollTable::bytes_needed(std::size_t entries) {
    return sizeof(LongPollTable) + entries * sizeof(Entry);
}

LongPollTable* LongPollTable::create(void* memory, std::size_t entries) {
    return new (memory) LongPollTable(entries);
}

LongPollTable* LongPollTable::attach(void* memory, std::size_t bytes) {
    if (bytes < sizeof(LongPollTable)) return nullptr;
    auto* table = static_cast<LongPollTable*>(memory);
    if (table->magic_ != kTableMagic || bytes_needed(table->entries_) > bytes) return nullptr;
    return table;
}

LongPollTable::Entry* LongPollTable::entry_array() {
    return reinterpret_cast<Entry*>(this + 1);
}

const LongPollTable::Entry* LongPollTable::entry_array() const {
    return reinterpret_cast<const Entry*>(this + 1);
}

int LongPollTable::claim(std::int64_t pid) {
    Entry* entries = entry_array();
    for (std::size_t i = 0; i < entries_; ++i)
        if (entries[i].pid.load() == pid) return static_cast<int>(i);
    for (std::size_t i = 0; i < entries_; ++i) {
        std::int64_t expected = 0;
        if (entries[i].pid.compare_exchange_strong(expected, pid)) return static_cast<int>(i);
    }
    return -1;
}

void LongPollTable::release(std::int64_t pid) {
    if (pid == 0) return;
    Entry* entries = entry_array();
    for (std::size_t i = 0; i < entries_; ++i) {
        if (entries[i].pid.load() != pid) continue;
        // Counts cleared before the entry is free: a new owner starts from zero.
        entries[i].waiting.store(0);
        entries[i].pid.store(0);
    }
}

std::size_t LongPollTable::sweep(const std::function<bool(std::int64_t pid)>& alive) {
    std::size_t freed = 0;
    Entry* entries = entry_array();
    for (std::size_t i = 0; i < entries_; ++i) {
        std::int64_t pid = entries[i].pid.load();
        if (pid == 0 || alive(pid)) continue;
        release(pid);
        ++freed;
    }
    return freed;
}

std::uint64_t LongPollTable::total_waiting() const {
    std::uint64_t total = 0;
    const Entry* entries = entry_array();
    for (std::size_t i = 0; i < entries_; ++i) total += entries[i].waiting.load();
    return total;
}

void LongPollTable::raise_peak(std::uint64_t seen) {
    std::uint64_t peak = peak_.load();
    while (seen > peak && !peak_.compare_exchange_weak(peak, seen)) {
    }
}

// Invariant: at any moment, the long polls admitted and not yet left number at most `cap`.
// Each caller counts itself before it sums (all sequentially consistent), so of any set of
// concurrently admitted polls the one that counted itself last saw all the others in its sum.
// Racing callers near the cap may both refuse; neither over-admits.
bool LongPollTable::try_enter(int entry, unsigned cap) {
    if (entry < 0 || static_cast<std::size_t>(entry) >= entries_) {
        note_refused();
        return false;
    }
    Entry& e = entry_array()[entry];
    e.waiting.fetch_add(1);
    const std::uint64_t total = total_waiting();
    if (total > cap) {
        e.waiting.fetch_sub(1);
        note_refused();
        return false;
    }
    raise_peak(total);
    admitted_.fetch_add(1);
    return true;
}

void LongPollTable::leave(int entry) {
    if (entry < 0 || static_cast<std::size_t>(entry) >= entries_) return;
    std::atomic<std::uint32_t>& waiting = entry_array()[entry].waiting;
    // Never below zero: the parent may have released the entry meanwhile (it only does so for
    // a process that exited, so this is belt and braces).
    std::uint32_t n = waiting.load();
    while (n > 0 && !waiting.compare_exchange_weak(n, n - 1)) {
    }
}

void LongPollTable::note_refused() {
    refused_.fetch_add(1);
}

void LongPollTable::note_client_gone() {
    client_gone_.fetch_add(1);
}

LongPollStats LongPollTable::stats(unsigned cap) const {
    LongPollStats s;
    s.cap = cap;
    s.waiting = total_waiting();
    s.peak = peak_.load();
    s.admitted = admitted_.load();
    s.refused = refused_.load();
    s.client_gone = client_gone_.load();
    return s;
}

bool LongPollTable::refusal_worth_logging(std::int64_t now_unix, std::int64_t period_s) {
    std::int64_t last = last_refusal_log_.load();
    if (last != 0 && now_unix - last < period_s) return false;
    return last_refusal_log_.compare_exchange_strong(last, now_unix);
}

}  // namespace docsync
