// The heartbeat process's error log, written by a thread of its own: a log line is a write to a
// file that can wait on the disk, and the heartbeat loop must never wait behind one (at 10 ms a
// 30 ms stall is a failover). The loop queues lines (bounded: a line that finds the queue full
// is counted and the count logged with the next line that fits); the thread writes them
// through the given function, in order. The queue's lock inherits priority. Lines still queued are
// written when it is destroyed. A line written 100 ms or more after it was queued says how late it
// is (the log's timestamp is the time of writing).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <thread>

#include "child_commands.h"
#include "priority_mutex.h"

namespace ha_heartbeat {

class AsyncLog {
  public:
    explicit AsyncLog(LogFn sink);
    ~AsyncLog();
    AsyncLog(const AsyncLog&) = delete;
    AsyncLog& operator=(const AsyncLog&) = delete;

    void push(int level, const std::string& message);
    // A LogFn that queues here.
    LogFn queue() {
        return [this](int level, const std::string& m) { push(level, m); };
    }

  private:
    void run();

    struct Line {
        int level;
        std::string message;
        std::chrono::steady_clock::time_point queued;
    };
    LogFn sink_;
    PriorityMutex mutex_;  // the loop (real time) and the log thread (normal) share it
    std::condition_variable_any wake_;
    std::deque<Line> lines_;
    std::uint64_t dropped_ = 0;
    bool stopping_ = false;
    std::thread thread_;
};

}  // namespace ha_heartbeat
