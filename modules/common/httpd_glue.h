// Small RAII and helper layer over httpd/APR shared by the suite's modules.
// Only adapter code (mod_*.cpp and their glue files) includes this; cores never do.
#pragma once

// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <apr_pools.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_protocol.h>

#include <string>

#include "openmetrics.h"

// The head of a module record, as STANDARD20_MODULE_STUFF writes it but with the module's
// conventional name: httpd names a module after the file given there (`<IfModule mod_foo.c>`,
// /server-info, LoadModule error messages), and __FILE__ would give our `.cpp` source path.
#define SUITE_MODULE_STUFF(conventional_name)                                                      \
    MODULE_MAGIC_NUMBER_MAJOR, MODULE_MAGIC_NUMBER_MINOR, -1, conventional_name, nullptr, nullptr, \
        MODULE_MAGIC_COOKIE, nullptr

namespace suite {

// An APR pool owned by a C++ scope.
class ScopedPool {
  public:
    explicit ScopedPool(apr_pool_t* parent) { apr_pool_create(&pool_, parent); }
    ~ScopedPool() {
        if (pool_) apr_pool_destroy(pool_);
    }
    ScopedPool(const ScopedPool&) = delete;
    ScopedPool& operator=(const ScopedPool&) = delete;
    apr_pool_t* get() const { return pool_; }

  private:
    apr_pool_t* pool_ = nullptr;
};

// An error message for a directive, naming it, allocated from the config pool as httpd expects.
inline const char* directive_error(cmd_parms* cmd, const std::string& reason) {
    return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", reason.c_str(), nullptr);
}

// Anonymous shared memory that lives as long as the httpd parent process, not just one
// configuration generation: it is looked up by `key` in the process pool on every post_config,
// so a graceful restart finds the segment its predecessor used. Returns the existing segment if
// it is at least `size` bytes, otherwise creates one (the caller migrates what it needs from
// the previous one, which stays mapped for children still running the old generation).
struct PersistentSegment {
    void* base = nullptr;
    apr_size_t size = 0;
    bool created = false;
    void* previous_base = nullptr;  // the smaller segment this one replaces, if any
    apr_size_t previous_size = 0;
};
apr_status_t persistent_segment(server_rec* s, const char* key, apr_size_t size,
                                PersistentSegment* out);

// mod_docsync checks a synced configuration with `httpd -t -D <this>` run as its unprivileged
// DocSyncUser, which may not read the root-only key files the configuration names.
inline constexpr const char* kUnprivilegedCheckDefine = "DocSyncUnprivilegedConfigTest";

// True in such a check when `path` exists but this user may not read it: a directive then takes
// the path unread (the real start as root reads and checks it); a missing file stays an error.
bool unreadable_in_unprivileged_check(const char* path);

// A status page's answer to a scraper: if the request asks for metrics (`?metrics`, or an Accept
// naming OpenMetrics), sets their content type, writes `render(format)` (a std::string) unless
// it is a HEAD request, and returns true; otherwise returns false and the page answers as usual.
// Either way the answer varies with Accept.
template <class Render>
bool answer_metrics(request_rec* r, Render&& render) {
    apr_table_mergen(r->headers_out, "Vary", "Accept");
    const MetricsRequest request = metrics_request(r->args, apr_table_get(r->headers_in, "Accept"));
    if (request == MetricsRequest::kNone) return false;
    const MetricsFormat format = format_of(request);
    ap_set_content_type(r, metrics_content_type(format));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    if (r->header_only) return true;
    const std::string body = render(format);
    ap_rwrite(body.data(), static_cast<int>(body.size()), r);
    return true;
}

}  // namespace suite
