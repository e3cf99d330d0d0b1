#include "export_state.h"

#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <cerrno>

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
    std::lock_guard<std::mutex> scan_lock(scan_mutex_);
    ++scans_;
    const std::int64_t scan_start = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count();
    UniqueFd root = open_root(root_);
    ScanResult result;
    if (root) {
        ScanOptions options;
        options.on_block_index = [this](const std::string& path, BlockIndex index) {
            blocks_.put(path, std::move(index));
        };
        result = scan_tree(root.get(), cache_, options);
    } else {
        result.error = root_ + ": " + errno_text(errno);
    }
    if (!result.ok()) {
        std::lock_guard<std::mutex> lock(mutex_);
        error_ = result.error;
        return;
    }
    if (inotify_fd_ >= 0) add_watches(result.directories);
    if (result.skipped != last_skipped_) {
        if (report_ && !result.skipped.empty())
            report_(std::to_string(result.skipped.size()) +
                    " entries left out of the manifest (unreadable, special file, invalid name "
                    "or unsafe symlink), e.g. " +
                    result.skipped.front());
        last_skipped_ = result.skipped;
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

void ExportState::add_watches(const std::vector<std::string>& dirs) {
    // inotify_add_watch on an already watched inode returns its existing descriptor, so adding
    // every directory after each scan is idempotent and catches new subdirectories.
    bool ok = inotify_add_watch(inotify_fd_, root_.c_str(), kWatchMask) >= 0;
    for (const auto& d : dirs) {
        std::string path = root_ + "/" + d;
        if (inotify_add_watch(inotify_fd_, path.c_str(), kWatchMask) < 0 && errno == ENOSPC)
            ok = false;
    }
    inotify_active_ = ok;
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
    std::vector<char> buf(kEventBufferBytes);
    auto next_rescan = std::chrono::steady_clock::now() + rescan_interval_;
    while (!stopping_) {
        pollfd fds[2] = {{wake_fd_, POLLIN, 0}, {inotify_fd_, POLLIN, 0}};
        int n = ::poll(fds, inotify_fd_ >= 0 ? 2 : 1, ms_until(next_rescan));
        if (stopping_) break;
        if (n < 0 && errno != EINTR) break;
        bool event = n > 0 && inotify_fd_ >= 0 && (fds[1].revents & POLLIN);
        if (event) {
            // Debounce: a burst of writes (an editor saving, an unpacked tarball) becomes one
            // rescan, taken once the tree has been quiet briefly or the burst lasted too long.
            auto burst_end = std::chrono::steady_clock::now() + kDebounceMax;
            for (;;) {
                while (::read(inotify_fd_, buf.data(), buf.size()) > 0) {
                }
                pollfd q{inotify_fd_, POLLIN, 0};
                int wait =
                    std::min<int>(static_cast<int>(kDebounceQuiet.count()), ms_until(burst_end));
                if (wait <= 0 || ::poll(&q, 1, wait) <= 0 || stopping_) break;
            }
        }
        if (event || std::chrono::steady_clock::now() >= next_rescan) {
            rescan();
            next_rescan = std::chrono::steady_clock::now() + rescan_interval_;
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
