#include "shared_mutex.h"

#include <cerrno>

namespace suite {

bool SharedMutex::init(bool priority_inheritance) {
    pthread_mutexattr_t attr;
    if (pthread_mutexattr_init(&attr) != 0) return false;
    bool ok = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED) == 0 &&
              pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST) == 0 &&
              (!priority_inheritance ||
               pthread_mutexattr_setprotocol(&attr, PTHREAD_PRIO_INHERIT) == 0) &&
              pthread_mutex_init(&mutex_, &attr) == 0;
    pthread_mutexattr_destroy(&attr);
    return ok;
}

bool SharedMutex::lock() {
    int rc = pthread_mutex_lock(&mutex_);
    if (rc == EOWNERDEAD) {
        pthread_mutex_consistent(&mutex_);
        return true;
    }
    return false;
}

void SharedMutex::unlock() {
    pthread_mutex_unlock(&mutex_);
}

}  // namespace suite
