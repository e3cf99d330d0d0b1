// One export on the primary, per httpd child process: the current manifest snapshot, a short
// history of earlier ones (to answer "what changed since <etag>" with a small delta instead of
// the whole manifest), and a watcher thread that rescans on inotify events — debounced, with a
// periodic full rescan as fallback for changes inotify cannot see (NFS, overflowed queue,
// directories created faster than watches are added). An event rescans only the directories it
// names (tree_scan.h rescan_dirs); an overflowed queue or an event it cannot place rescans the
// whole tree.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "block_index.h"
#include "manifest.h"
#include "tree_scan.h"

namespace docsync {

inline constexpr std::chrono::milliseconds kDefaultRescanInterval{30'000};
inline constexpr std::chrono::milliseconds kDebounceQuiet{5};
inline constexpr std::chrono::milliseconds kDebounceMax{250};
inline constexpr std::size_t kManifestHistory = 16;

struct Snapshot {
    Manifest manifest;
    std::string text;  // serialise(manifest)
    std::string etag;  // sha256 of text
    std::uint64_t generation = 0;
    std::int64_t scanned_unix_ns = 0;  // wall clock when the scan began: comparable across
                                       // the child processes of one machine
};

class ExportState {
  public:
    ExportState(std::string name, std::string root, std::chrono::milliseconds rescan_interval);
    ~ExportState();  // stops and joins the watcher
    ExportState(const ExportState&) = delete;
    ExportState& operator=(const ExportState&) = delete;

    const std::string& name() const { return name_; }
    // Told (once per change of the set) about entries left out of the manifest: unreadable
    // files, special files, names that are not valid paths. Set before start().
    void set_problem_reporter(std::function<void(const std::string&)> report) {
        report_ = std::move(report);
    }
    const std::string& root() const { return root_; }

    // Scans once synchronously (so the first request has a manifest), then starts the watcher.
    bool start(std::string* error);
    void stop();
    void rescan();  // synchronous, also used by tests
    // What one batch of inotify events asks for: the directories whose entries changed, the
    // ones to read whole (created, moved in or replaced), or everything.
    struct Dirty {
        std::set<std::string> dirs;
        std::set<std::string> deep;
        bool everything = false;
    };
    // Synchronous scoped rescan (what an event does; tests call it directly).
    void rescan(const Dirty& dirty);

    std::shared_ptr<const Snapshot> current() const;
    // Serialised changes from the snapshot with `etag` to the current one, if that snapshot is
    // still in the history; empty otherwise (the caller then sends the full manifest).
    std::string changes_since(const std::string& etag) const;
    // True if `etag` is the current snapshot or one in the history.
    bool knows(const std::string& etag) const;

    // Waits until the current etag differs from `etag`, `timeout` passes or `abort()` says so
    // (checked every `poll_slice`). Returns the snapshot current at return.
    std::shared_ptr<const Snapshot> wait_for_change(
        const std::string& etag, std::chrono::milliseconds timeout,
        const std::function<bool()>& abort,
        std::chrono::milliseconds poll_slice = std::chrono::milliseconds(250));
    // Block digests of the exported files' current and previous versions (block_index.h).
    const BlockIndexStore& block_indexes() const { return blocks_; }
    bool inotify_active() const { return inotify_active_.load(); }
    std::uint64_t scans() const { return scans_.load(); }
    std::uint64_t full_scans() const { return full_scans_.load(); }
    std::string last_error() const;

  private:
    void watch_loop();
    // Adds watches for `dirs` (and the root); with `all`, `dirs` are every directory of the tree
    // and watches of directories no longer in it are forgotten. Returns the directories whose
    // watch is new (files created in them before the watch existed were not reported).
    std::vector<std::string> add_watches(const std::vector<std::string>& dirs, bool all);
    // The events in `buf` added to `dirty` (under scan_mutex_: reads wd_dirs_).
    void note_events(const char* buf, std::size_t len, Dirty& dirty);
    void publish(ScanResult result, std::int64_t scan_start, bool full);

    std::string name_;
    std::string root_;
    std::chrono::milliseconds rescan_interval_;
    HashCache cache_;  // only touched by rescan(), under scan_mutex_
    BlockIndexStore blocks_;
    std::mutex scan_mutex_;
    mutable std::mutex mutex_;  // guards current_, history_, error_
    std::condition_variable changed_;
    std::shared_ptr<const Snapshot> current_;
    std::deque<std::shared_ptr<const Snapshot>> history_;
    std::string error_;
    std::function<void(const std::string&)> report_;
    std::vector<std::string> last_skipped_;  // under scan_mutex_
    std::thread watcher_;
    std::unordered_map<int, std::string> wd_dirs_;  // watch → directory, under scan_mutex_
    int inotify_fd_ = -1;
    int wake_fd_ = -1;  // eventfd to stop the watcher
    std::atomic<bool> stopping_{false};
    std::atomic<bool> inotify_active_{false};
    std::atomic<std::uint64_t> scans_{0};
    std::atomic<std::uint64_t> full_scans_{0};
};

}  // namespace docsync
