// A mutex with priority inheritance, for a lock that a real-time thread shares with one of
// normal priority: the heartbeat loop queues log lines for the log thread (async_log.h).
// With std::mutex, a log thread preempted by ordinary load while holding the queue's lock
// would hold up the loop for as long as the load keeps it off the CPU; with PTHREAD_PRIO_INHERIT
// it runs at the waiter's priority until it unlocks. Lockable, for std::unique_lock and
// std::condition_variable_any.
#pragma once

#include <pthread.h>

namespace ha_heartbeat {

class PriorityMutex {
  public:
    PriorityMutex() {
        pthread_mutexattr_t attr;
        pthread_mutexattr_init(&attr);
        pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT);
        pthread_mutex_init(&mutex_, &attr);
        pthread_mutexattr_destroy(&attr);
    }
    ~PriorityMutex() { pthread_mutex_destroy(&mutex_); }
    PriorityMutex(const PriorityMutex&) = delete;
    PriorityMutex& operator=(const PriorityMutex&) = delete;

    void lock() { pthread_mutex_lock(&mutex_); }
    bool try_lock() { return pthread_mutex_trylock(&mutex_) == 0; }
    void unlock() { pthread_mutex_unlock(&mutex_); }

  private:
    pthread_mutex_t mutex_;
};

}  // namespace ha_heartbeat
