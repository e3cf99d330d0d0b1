// process_log (sync_spec.h): the sync processes log to stderr, which is httpd's main error log.
#include <unistd.h>

#include <cstdarg>
#include <cstdio>
#include <ctime>

#include "sync_spec.h"

namespace docsync {

void process_log(const char* level, const char* fmt, ...) {
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    std::vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    std::time_t now = std::time(nullptr);
    std::tm tm;
    localtime_r(&now, &tm);
    char ts[64];
    std::strftime(ts, sizeof ts, "%a %b %d %H:%M:%S %Y", &tm);
    std::fprintf(stderr, "[%s] [docsync:%s] [pid %d] %s\n", ts, level, static_cast<int>(getpid()),
                 msg);
    std::fflush(stderr);
}

}  // namespace docsync
