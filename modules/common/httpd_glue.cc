#include "httpd_glue.h"

#include <http_core.h>
#include <unistd.h>

#include <cerrno>

namespace suite {

apr_status_t persistent_segment(server_rec* s, const char* key, apr_size_t size,
                                PersistentSegment* out) {
    apr_pool_t* process_pool = s->process->pool;
    void* data = nullptr;
    apr_pool_userdata_get(&data, key, process_pool);
    auto* existing = static_cast<apr_shm_t*>(data);
    if (existing && apr_shm_size_get(existing) >= size) {
        out->base = apr_shm_baseaddr_get(existing);
        out->size = apr_shm_size_get(existing);
        out->created = false;
        return APR_SUCCESS;
    }
    apr_shm_t* shm = nullptr;
    apr_status_t rv = apr_shm_create(&shm, size, nullptr, process_pool);
    if (rv != APR_SUCCESS) return rv;
    if (existing) {
        out->previous_base = apr_shm_baseaddr_get(existing);
        out->previous_size = apr_shm_size_get(existing);
    }
    apr_pool_userdata_set(shm, key, apr_pool_cleanup_null, process_pool);
    out->base = apr_shm_baseaddr_get(shm);
    out->size = apr_shm_size_get(shm);
    out->created = true;
    return APR_SUCCESS;
}

bool unreadable_in_unprivileged_check(const char* path) {
    return ap_exists_config_define(kUnprivilegedCheckDefine) && ::geteuid() != 0 &&
           ::access(path, R_OK) != 0 && errno == EACCES;
}

}  // namespace suite
