#include "async_log.h"

namespace ha_heartbeat {
namespace {
// Far more than a burst of transitions writes; a flood beyond it is counted, not queued.
constexpr std::size_t kMaxQueuedLines = 256;
}  // namespace

AsyncLog::AsyncLog(LogFn sink) : sink_(std::move(sink)), thread_([this] { run(); }) {}

AsyncLog::~AsyncLog() {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_one();
    thread_.join();
}

void AsyncLog::push(int level, const std::string& message) {
    {
        std::lock_guard<std::mutex> lock(mutex_);
        if (lines_.size() >= kMaxQueuedLines) {
            ++dropped_;
            return;
        }
        if (dropped_ > 0) {
            lines_.push_back({kLogWarning, std::to_string(dropped_) +
                                               " log line(s) dropped: the log could not keep up"});
            dropped_ = 0;
        }
        lines_.push_back({level, message});
    }
    wake_.notify_one();
}

void AsyncLog::run() {
    std::unique_lock<std::mutex> lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || !lines_.empty(); });
        while (!lines_.empty()) {
            Line line = std::move(lines_.front());
            lines_.pop_front();
            lock.unlock();
            sink_(line.level, line.message);
            lock.lock();
        }
        if (stopping_) return;
    }
}

}  // namespace ha_heartbeat
