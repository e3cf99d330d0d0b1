// How many manifest long polls a primary lets wait at once. Each waiting long poll holds an
// httpd worker for up to DocSyncLongPoll; unbounded, enough of them (secondaries restarting in a
// loop, clients gone but still waited for) take every worker and ordinary pages queue behind
// them. The cap (DocSyncExportMaxLongPolls, a count or a share of MaxRequestWorkers) keeps the
// rest for ordinary traffic: beyond it a long poll is answered at once with the usual signed
// "not modified", and the secondary, which leaves at least a second between two polls answered
// that fast, asks again later.
//
// The count is shared by every httpd child through a LongPollTable in shared memory: one entry
// per child process, keyed by its pid, holding the long polls that child has waiting. The parent
// releases a child's entry when the MPM reports it exited (crashed or not), so a dead child's
// long polls never keep counting.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

namespace docsync {

inline constexpr unsigned kDefaultLongPollPercent = 25;

// DocSyncExportMaxLongPolls' argument: a count ("40") or a share of MaxRequestWorkers ("25%").
struct LongPollShare {
    unsigned count = 0;                          // 0: the percentage applies
    unsigned percent = kDefaultLongPollPercent;  // of MaxRequestWorkers, 1..99
};

// "<n>" (n >= 1) or "<p>%" (1 <= p <= 99: at 100% ordinary requests could be left no worker).
bool parse_long_poll_share(std::string_view text, LongPollShare* out, std::string* error);
std::string describe(const LongPollShare& share);  // "25%" or "40"

// The number of long polls allowed to wait at once on a server with `max_request_workers`:
// a percentage rounds down but allows at least one; a count must stay below
// max_request_workers (else false, with the reason in *error).
bool long_poll_cap(const LongPollShare& share, unsigned max_request_workers, unsigned* cap,
                   std::string* error);

struct LongPollStats {
    unsigned cap = 0;
    std::uint64_t waiting = 0;      // now, every child
    std::uint64_t peak = 0;         // the most waiting at once since the server started
    std::uint64_t admitted = 0;     // long polls that waited (cumulative)
    std::uint64_t refused = 0;      // answered at once because of the cap (cumulative)
    std::uint64_t client_gone = 0;  // waits ended early because the client had closed
};

// Lives in memory shared by the parent and every child (placement-created; only lock-free
// atomics inside). All operations are safe from any process and thread.
class LongPollTable {
  public:
    static std::size_t bytes_needed(std::size_t entries);
    // Builds an empty table in `memory` (at least bytes_needed(entries), suitably aligned).
    static LongPollTable* create(void* memory, std::size_t entries);
    // The table already in `memory` (`bytes` long), or null if there is none or it does not fit.
    static LongPollTable* attach(void* memory, std::size_t bytes);

    std::size_t entries() const { return entries_; }

    // The entry of process `pid`: the one it already has, else a free one it takes. -1 when
    // every entry is taken (more live children than the table was sized for).
    int claim(std::int64_t pid);
    // Process `pid` has exited: its entry and the long polls it counted are freed.
    void release(std::int64_t pid);
    // Frees the entries of processes `alive` says are gone (for exits nobody reported);
    // returns how many.
    std::size_t sweep(const std::function<bool(std::int64_t pid)>& alive);

    // Counts one more waiting long poll for `entry` if that keeps every child's total at most
    // `cap`; otherwise counts a refusal and returns false. Never admits beyond the cap, even
    // when children race (each counts itself first, then checks the total).
    bool try_enter(int entry, unsigned cap);
    void leave(int entry);
    void note_refused();  // a long poll refused without an entry (claim failed)
    void note_client_gone();

    LongPollStats stats(unsigned cap) const;

    // True once per `period_s` seconds of refusals (the caller logs one line then).
    bool refusal_worth_logging(std::int64_t now_unix, std::int64_t period_s);

  private:
    struct Entry {
        std::atomic<std::int64_t> pid;  // 0: free
        std::atomic<std::uint32_t> waiting;
    };
    static_assert(std::atomic<std::int64_t>::is_always_lock_free, "lives in shared memory");
    static_assert(std::atomic<std::uint32_t>::is_always_lock_free, "lives in shared memory");

    explicit LongPollTable(std::size_t entries);
    Entry* entry_array();
    const Entry* entry_array() const;
    std::uint64_t total_waiting() const;
    void raise_peak(std::uint64_t seen);

    std::uint64_t magic_;
    std::size_t entries_;
    std::atomic<std::uint64_t> peak_{0};
    std::atomic<std::uint64_t> admitted_{0};
    std::atomic<std::uint64_t> refused_{0};
    std::atomic<std::uint64_t> client_gone_{0};
    std::atomic<std::int64_t> last_refusal_log_{0};
};

}  // namespace docsync
