#include "async_log.h"

namespace ha_heartbeat {
namespace {
// Far more than a burst of transitions writes; a flood beyond it is counted, not queued.
constexpr std::size_t kMaxQueuedLines = 256;
// The log's timestamp is when the line is written; the writing thread has normal scheduling,
// so on a saturated machine that can be seconds after the event. A line this late says so.
constexpr auto kLateLine = std::chrono::milliseconds(100);
}  // namespace

AsyncLog::AsyncLog(LogFn sink) : sink_(std::move(sink)), thread_([this] { run(); }) {}

AsyncLog::~AsyncLog() {
    {
        std::lock_guard<PriorityMutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void AsyncLog::push(int level, const std::string& message) {
    {
        std::lock_guard<PriorityMutex> lock(mutex_);
        if (lines_.size() >= kMaxQueuedLines) {
            ++dropped_;
            return;
        }
        if (dropped_ > 0) {
            lines_.push_back(
                {kLogWarning,
                 std::to_string(dropped_) + " log line(s) dropped: the log could not keep up",
                 std::chrono::steady_clock::now()});
            dropped_ = 0;
        }
        lines_.push_back({level, message, std::chrono::steady_clock::now()});
    }
    wake_.notify_one();
}

void AsyncLog::run() {
    std::unique_lock<PriorityMutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !lines_.empty(); });
        while (!lines_.empty()) {
            Line line = std::move(lines_.front());
            lines_.pop_front();
            lock.unlock();
            const auto late = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - line.queued);
            if (late >= kLateLine)
                line.message += " (logged " + std::to_string(late.count()) + " ms after the event)";
            sink_(line.level, line.message);
            lock.lock();
        }
        if (stopping_) return;
    }
}

}  // namespace ha_heartbeat
