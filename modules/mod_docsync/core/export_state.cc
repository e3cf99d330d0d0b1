#include "export_state.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <iterator>

#include "crypto.h"
#include "path_policy.h"
#include "safe_fs.h"

namespace docsync {

namespace {
constexpr std::uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE |
                                     IN_MOVED_FROM | IN_MOVED_TO | IN_ATTRIB | IN_DELETE_SELF |
                                     IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW;
constexpr std::size_t kEventBufferBytes = 64 * 1024;

int ms_until(std::chrono::steady_clock::time_point t) {
    auto d =
        std::chrono::duration_cast<std::chrono::milliseconds>(t - std::chrono::steady_clock::now());
    return d.count() < 0 ? 0 : static_cast<int>(d.count());
}
}  // namespace

ExportState::ExportState(std::string name, std::string root,
                         std::chrono::milliseconds rescan_interval)
    : name_(std::move(name)), root_(std::move(root)), rescan_interval_(rescan_interval) {}

ExportState::~ExportState() {
    stop();
}

std::string ExportState::last_error() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return error_;
}

std::shared_ptr<const Snapshot> ExportState::current() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return current_;
}

std::string ExportState::changes_since(const std::string& etag) const {
    std::shared_ptr<const Snapshot> base, now;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        now = current_;
        for (const auto& s : history_)
            if (s->etag == etag) base = s;
    }
    if (!base || !now || base == now) return {};
    return serialise(manifest_changes(base->manifest, now->manifest, base->etag));
}

bool ExportState::knows(const std::string& etag) const {
    std::lock_guard<std::mutex> lock(mutex_);
    for (const auto& snap : history_)
        if (snap->etag == etag) return true;
    return false;
}

void ExportState::rescan() {
    Dirty all;
    all.everything = true;
    rescan(all);
}

void ExportState::rescan(const Dirty& dirty) {
    std::lock_guard<std::mutex> scan_lock(scan_mutex_);
    ++scans_;
    const std::int64_t scan_start = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
    std::shared_ptr<const Snapshot> previous = current();
    const bool full = dirty.everything || !previous;
    UniqueFd root = open_root(root_);
    ScanResult result;
    if (root) {
        ScanOptions options;
        options.on_block_index = [this](const std::string& path, BlockIndex index) {
            blocks_.put(path, std::move(index));
        };
        if (full) {
            ++full_scans_;
            result = scan_tree(root.get(), cache_, options);
            if (result.ok() && inotify_fd_ >= 0) add_watches(result.directories, true);
        } else {
            result = rescan_dirs(root.get(), cache_, previous->manifest, dirty.dirs, dirty.deep,
                                 options);
            // A directory that just got its watch may have had files created in it before: it
            // is listed once more now that changes in it are reported (bounded: a tree growing
            // faster than this is left to the next event or the periodic rescan).
            for (int pass = 0; pass < 4 && result.ok() && inotify_fd_ >= 0; ++pass) {
                std::vector<std::string> fresh = add_watches(result.directories, false);
                if (fresh.empty()) break;
                ScanResult again =
                    rescan_dirs(root.get(), cache_, result.manifest,
                                std::set<std::string>(fresh.begin(), fresh.end()), {}, options);
                if (!again.ok()) {
                    result = std::move(again);
                    break;
                }
                again.skipped.insert(again.skipped.end(), result.skipped.begin(),
                                     result.skipped.end());
                again.unstable.insert(again.unstable.end(), result.unstable.begin(),
                                      result.unstable.end());
                result = std::move(again);
            }
        }
    } else {
        result.error = root_ + ": " + errno_text(errno);
    }
    if (!result.ok()) {
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = result.error;
        return;
    }
    publish(std::move(result), scan_start, full);
}

void ExportState::publish(ScanResult result, std::int64_t scan_start, bool full) {
    std::sort(result.skipped.begin(), result.skipped.end());
    result.skipped.erase(std::unique(result.skipped.begin(), result.skipped.end()),
                         result.skipped.end());
    // A scoped rescan sees only the entries it listed: it adds to the set, a full one replaces
    // it. Either way one report per change of the set.
    std::vector<std::string> skipped = result.skipped;
    if (!full) {
        std::vector<std::string> merged;
        std::set_union(last_skipped_.begin(), last_skipped_.end(), skipped.begin(), skipped.end(),
                       std::back_inserter(merged));
        skipped = std::move(merged);
    }
    if (skipped != last_skipped_) {
        if (report_ && !skipped.empty())
            report_(std::to_string(skipped.size()) +
                    " entries left out of the manifest (unreadable, special file, invalid name "
                    "or unsafe symlink), e.g. " +
                    skipped.front());
        last_skipped_ = std::move(skipped);
    }
    // A file caught in the middle of a write keeps its previous entry until it is stable
    // again: dropping it would make secondaries delete their copy and later fetch it whole.
    if (auto previous = current(); previous && !result.unstable.empty()) {
        for (const auto& path : result.unstable) {
            auto old = previous->manifest.find(path);
            std::string parent = parent_of(path);
            if (old != previous->manifest.end() &&
                (parent.empty() || result.manifest.count(parent)))
                result.manifest.emplace(path, old->second);
        }
    }
    blocks_.retain([&](const std::string& path) { return result.manifest.count(path) > 0; });
    auto snap = std::make_shared<Snapshot>();
    snap->text = serialise(result.manifest);
    snap->etag = sha256_hex(snap->text);
    snap->manifest = std::move(result.manifest);
    snap->scanned_unix_ns = scan_start;
    {
        std::lock_guard<std::mutex> lock(mutex_);
        error_.clear();
        if (current_ && current_->etag == snap->etag) return;
        snap->generation = current_ ? current_->generation + 1 : 1;
        current_ = snap;
        history_.push_back(snap);
        while (history_.size() > kManifestHistory) history_.pop_front();
    }
    changed_.notify_all();
}

std::vector<std::string> ExportState::add_watches(const std::vector<std::string>& dirs, bool all) {
    // inotify_add_watch on an already watched inode returns its existing descriptor, so adding
    // every directory after each scan is idempotent and catches new subdirectories; the
    // descriptor then names the directory's current path (it may have been moved).
    std::vector<std::string> fresh;
    std::unordered_map<int, std::string> seen;
    bool ok = true;
    auto add = [&](const std::string& rel) {
        const std::string path = rel.empty() ? root_ : root_ + "/" + rel;
        const int wd = inotify_add_watch(inotify_fd_, path.c_str(), kWatchMask);
        if (wd < 0) {
            if (rel.empty() || errno == ENOSPC) ok = false;
            return;
        }
        auto [it, added] = wd_dirs_.emplace(wd, rel);
        if (added && !rel.empty()) fresh.push_back(rel);
        if (!added) it->second = rel;
        if (all) seen.emplace(wd, rel);
    };
    add("");
    for (const auto& d : dirs) add(d);
    if (all) {
        // Directories moved out of the export keep their watch: drop it, their events are not
        // the export's.
        for (const auto& [wd, rel] : wd_dirs_)
            if (!seen.count(wd)) inotify_rm_watch(inotify_fd_, wd);
        wd_dirs_ = std::move(seen);
        inotify_active_ = ok;
    } else if (!ok) {
        inotify_active_ = false;
    }
    return fresh;
}

void ExportState::note_events(const char* buf, std::size_t len, Dirty& dirty) {
    std::lock_guard<std::mutex> scan_lock(scan_mutex_);
    for (std::size_t off = 0; off + sizeof(inotify_event) <= len;) {
        const auto* ev = reinterpret_cast<const inotify_event*>(buf + off);
        off += sizeof(inotify_event) + ev->len;
        if (ev->mask & IN_Q_OVERFLOW) {
            dirty.everything = true;
            continue;
        }
        auto it = wd_dirs_.find(ev->wd);
        if (it == wd_dirs_.end()) {
            // A watch this scan does not know (added by a scan that failed halfway): read all.
            if (!(ev->mask & IN_IGNORED)) dirty.everything = true;
            continue;
        }
        const std::string dir = it->second;
        if (ev->mask & IN_IGNORED) {  // the watch is gone with its directory
            wd_dirs_.erase(it);
            continue;
        }
        if (ev->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
            if (dir.empty())
                dirty.everything = true;
            else
                dirty.dirs.insert(parent_of(dir));
            continue;
        }
        dirty.dirs.insert(dir);
        if (ev->len > 0 && (ev->mask & IN_ISDIR) &&
            (ev->mask & (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO))) {
            const std::string name(ev->name);  // NUL-terminated, padded
            dirty.deep.insert(dir.empty() ? name : dir + "/" + name);
        }
    }
}

bool ExportState::start(std::string* error) {
    inotify_fd_ = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (wake_fd_ < 0) {
        if (error) *error = "eventfd: " + errno_text(errno);
        return false;
    }
    rescan();
    if (!current()) {
        if (error) *error = last_error();
        return false;
    }
    watcher_ = std::thread([this] { watch_loop(); });
    return true;
}

void ExportState::stop() {
    if (stopping_.exchange(true)) return;
    if (wake_fd_ >= 0) {
        std::uint64_t one = 1;
        [[maybe_unused]] auto n = ::write(wake_fd_, &one, sizeof one);
    }
    if (watcher_.joinable()) watcher_.join();
    changed_.notify_all();
    if (inotify_fd_ >= 0) ::close(inotify_fd_);
    if (wake_fd_ >= 0) ::close(wake_fd_);
    inotify_fd_ = wake_fd_ = -1;
}

void ExportState::watch_loop() {
    // operator new's alignment suits inotify_event; read() never splits an event.
    std::vector<char> buf(kEventBufferBytes);
    auto next_rescan = std::chrono::steady_clock::now() + rescan_interval_;
    while (!stopping_) {
        pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
        int n = ::poll(fds, inotify_fd_ >= 0 ? 2 : 1, ms_until(next_rescan));
        if (stopping_) break;
        if (n < 0 && errno != EINTR) break;
        bool event = n > 0 && inotify_fd_ >= 0 && (fds[1].revents & POLLIN);
        Dirty dirty;
        if (event) {
            // Debounce: a burst of writes (an editor saving, an unpacked tarball) becomes one
            // rescan, taken once the tree has been quiet briefly or the burst lasted too long.
            auto burst_end = std::chrono::steady_clock::now() + kDebounceMax;
            for (;;) {
                ssize_t got;
                while ((got = ::read(inotify_fd_, buf.data(), buf.size())) > 0)
                    note_events(buf.data(), static_cast<std::size_t>(got), dirty);
                pollfd q{inotify_fd_, POLLIN, 0};
                int wait =
                    std::min<int>(static_cast<int>(kDebounceQuiet.count()), ms_until(burst_end));
                if (wait <= 0 || ::poll(&q, 1, wait) <= 0 || stopping_) break;
            }
        }
        if (std::chrono::steady_clock::now() >= next_rescan) {
            rescan();
            next_rescan = std::chrono::steady_clock::now() + rescan_interval_;
        } else if (event && (dirty.everything || !dirty.dirs.empty() || !dirty.deep.empty())) {
            rescan(dirty);
            if (dirty.everything) next_rescan = std::chrono::steady_clock::now() + rescan_interval_;
        }
    }
}

std::shared_ptr<const Snapshot> ExportState::wait_for_change(const std::string& etag,
                                                             std::chrono::milliseconds timeout,
                                                             const std::function<bool()>& abort,
                                                             std::chrono::milliseconds poll_slice) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        if (!current_ || current_->etag != etag || stopping_) return current_;
        auto now = std::chrono::steady_clock::now();
        if (now >= deadline || (abort && abort())) return current_;
        changed_.wait_until(lock, std::min(deadline, now + poll_slice));
    }
}

}  // namespace docsync
