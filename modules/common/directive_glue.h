// What every module's directive table needs from httpd: its per-server configuration object,
// the one prologue of a directive handler, and the duration directives. Adapter code only.
#pragma once

// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <apr_pools.h>
#include <apr_strings.h>
#include <http_config.h>

#include <chrono>
#include <exception>
#include <new>
#include <type_traits>

namespace suite {

// A module's per-server configuration: a C++ object constructed in the configuration pool and
// destroyed with it (httpd only knows the memory). For the module record's create_server_config.
template <class Config>
void* create_server_config(apr_pool_t* p, server_rec*) {
    auto* config = new (apr_pcalloc(p, sizeof(Config))) Config{};
    if constexpr (!std::is_trivially_destructible_v<Config>)
        apr_pool_cleanup_register(
            p, config,
            [](void* c) -> apr_status_t {
                static_cast<Config*>(c)->~Config();
                return APR_SUCCESS;
            },
            apr_pool_cleanup_null);
    return config;
}

// The prologue of every directive handler: `resolve` finds the configuration the directive
// writes to, or says why the directive may not stand where it is written; then `body` runs on
// it. Handlers are called from C, so nothing thrown gets out: it becomes the directive's error.
//     return suite::with_config(cmd, global_config, [&](HaConfig* c) -> const char* { ... });
template <class Config, class Body>
const char* with_config(cmd_parms* cmd, const char* (*resolve)(cmd_parms*, Config**),
                        Body body) noexcept {
    try {
        Config* config = nullptr;
        if (const char* error = resolve(cmd, &config)) return error;
        return body(config);
    } catch (const std::exception& e) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": ", e.what(), nullptr);
    } catch (...) {
        return apr_pstrcat(cmd->pool, cmd->cmd->name, ": unexpected error", nullptr);
    }
}

// The range a duration directive accepts, and how it reads a bare number.
struct DurationLimits {
    std::chrono::nanoseconds minimum;
    std::chrono::nanoseconds maximum;
    std::chrono::nanoseconds bare_unit = std::chrono::seconds(1);
    const char* off_word = nullptr;  // a word that stands for zero ("off"), if any
};

// Parses `arg` into `out` within `limits`; nullptr, or the error naming the directive.
const char* set_duration(cmd_parms* cmd, const char* arg, const DurationLimits& limits,
                         std::chrono::nanoseconds* out);

}  // namespace suite
