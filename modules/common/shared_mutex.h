// A mutex that lives in shared memory and is shared by every httpd child process and thread.
// It is a robust, process-shared pthread mutex: if a child dies while holding it (segfault,
// SIGKILL), the next locker gets EOWNERDEAD, marks it consistent and goes on, instead of the
// whole server hanging, which is what a spinlock in shared memory would do.
#pragma once

#include <pthread.h>

namespace suite {

class SharedMutex {
  public:
    // Initialises the mutex in place; call once, in the process that created the memory.
    // With priority inheritance, a real-time locker waiting for a normal-priority holder lends
    // it its priority, so a holder preempted by ordinary load cannot stall it (it costs a
    // system call on every contended lock, so only where a real-time process locks).
    bool init(bool priority_inheritance = false);
    // Returns true if the previous owner died while holding the lock (state may be half
    // updated; callers keep their shared state valid at every store, so they can go on).
    bool lock();
    void unlock();

  private:
    pthread_mutex_t mutex_;
};

// RAII guard for SharedMutex.
class SharedLock {
  public:
    explicit SharedLock(SharedMutex& m) : mutex_(m) { mutex_.lock(); }
    ~SharedLock() { mutex_.unlock(); }
    SharedLock(const SharedLock&) = delete;
    SharedLock& operator=(const SharedLock&) = delete;

  private:
    SharedMutex& mutex_;
};

}  // namespace suite
