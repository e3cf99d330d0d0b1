// clang-format off: httpd.h first, the other httpd headers rely on what it declares.
#include <httpd.h>
// clang-format on
#include <fcntl.h>
#include <http_config.h>
#include <http_connection.h>
#include <http_log.h>
#include <http_protocol.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>
#include <unordered_map>

#include "core/clock.h"
#include "core/quiet_connections.h"
#include "module_state.h"
#include "quiet_connection_closer.h"

APLOG_USE_MODULE(ha_heartbeat);

namespace ha_heartbeat {
namespace {

// A client in the middle of a keep-alive exchange sends its next request within milliseconds of
// its answer; a connection quiet this long is idle (a browser's spare connection). Not shorter:
// on a saturated machine a client's thread can be held up for a few hundred milliseconds between
// reading an answer and sending the next request. Short against the drain timeout (2 s by
// default): a connection that went quiet just before the drain began holds it at most this long.
constexpr nanoseconds kQuietBeforeClose = std::chrono::milliseconds(500);
// How often the child's thread looks at the drain flag: short against the quiet period, so the
// drain waits for it at most this much longer. That is 200 wake-ups per second per child, each
// a relaxed load of the flag and, while draining, a walk over this child's connections.
constexpr nanoseconds kCheckPeriod = std::chrono::milliseconds(5);

class Closer {
  public:
    Closer(server_rec* s, const HaConfig& config)
        : server_(s), config_(config), thread_([this] { run(); }) {}
    ~Closer() {
        {
            std::lock_guard<std::mutex> lock(mutex_);
            stopping_ = true;
        }
        wake_.notify_one();
        thread_.join();
    }
    Closer(const Closer&) = delete;
    Closer& operator=(const Closer&) = delete;

    // `fd` is a duplicate of the connection's descriptor, this module's own until remove():
    // httpd may close its descriptor before the connection's pool is cleaned up, and a
    // descriptor number it closed may already be another connection's.
    // `address`: the connection's service address (its index in HaConfig::service_addresses).
    QuietConnections::Id add(int fd, int address) {
        std::lock_guard<std::mutex> lock(mutex_);
        const QuietConnections::Id id = connections_.add(fd);
        addresses_[id] = address;
        return id;
    }
    void remove(QuietConnections::Id id) {
        std::lock_guard<std::mutex> lock(mutex_);
        connections_.remove(id);
        addresses_.erase(id);
    }
    void request_begun(QuietConnections::Id id) {
        std::lock_guard<std::mutex> lock(mutex_);
        connections_.request_begun(id);
    }
    void answered(QuietConnections::Id id) {
        const nanoseconds now = clock_.now();
        std::lock_guard<std::mutex> lock(mutex_);
        connections_.answered(id, now);
    }

  private:
    void run() {
        std::unique_lock<std::mutex> lock(mutex_);
        bool draining = false;
        int closed = 0;
        while (!stopping_) {
            wake_.wait_for(lock, kCheckPeriod);
            // Each address group drains on its own: a bit per service address.
            const std::uint32_t mask =
                g_board ? g_board->moves.draining.load(std::memory_order_relaxed) : 0;
            const bool now_draining = mask != 0;
            if (draining && !now_draining && closed > 0) {
                // One line per drain and child, not per connection.
                ap_log_error(APLOG_MARK, APLOG_INFO, 0, server_,
                             "drain: closed %d quiet kept-alive connection(s) on the service "
                             "addresses",
                             closed);
                closed = 0;
            }
            draining = now_draining;
            if (!draining) continue;
            for (const auto& c : connections_.quiet(clock_.now(), kQuietBeforeClose)) {
                if (!draining_address(mask, addresses_[c.id])) continue;
                // A request that has arrived but that the MPM has not handed to a worker yet (its
                // listener thread is held up on a busy machine) leaves the connection looking
                // quiet: its bytes wait in the socket. (Without this check and with a 250 ms quiet
                // period, one return under wrk load lost 7 requests on connections closed as
                // quiet.)
                int unread = 0;
                if (::ioctl(c.fd, SIOCINQ, &unread) != 0 || unread > 0) continue;
                // The client reads the end of the connection and opens a new one (which reaches
                // the successor); the MPM closes its side when the client's FIN arrives or at
                // the keep-alive timeout.
                if (::shutdown(c.fd, SHUT_WR) == 0) ++closed;
                connections_.closed(c.id);
            }
        }
    }

  public:
    const HaConfig& config() const { return config_; }

  private:
    server_rec* server_;
    const HaConfig& config_;  // the main server's: the HA directives are global
    MonotonicClock clock_;
    std::mutex mutex_;
    std::condition_variable wake_;
    bool stopping_ = false;
    QuietConnections connections_;
    std::unordered_map<QuietConnections::Id, int> addresses_;  // service address index per id
    std::thread thread_;  // last: starts once everything it uses is built
};

Closer* g_closer = nullptr;  // in a request-serving child whose node drains

struct Tracked {
    QuietConnections::Id id;
    int fd;  // our duplicate of the connection's descriptor
};

apr_status_t stop_closer(void*) {
    delete g_closer;
    g_closer = nullptr;
    return APR_SUCCESS;
}

void child_init(apr_pool_t* pchild, server_rec* s) {
    const HaConfig* c = server_config(s);
    if (!c || !c->enabled || c->drain_timeout.count() <= 0 || !g_board) return;
    try {
        g_closer = new Closer(s, *c);
    } catch (const std::exception& e) {
        ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                     "drain: cannot start the thread that closes quiet kept-alive connections "
                     "(%s); those are reset when the addresses move",
                     e.what());
        return;
    }
    apr_pool_cleanup_register(pchild, nullptr, stop_closer, apr_pool_cleanup_null);
}

apr_status_t forget_connection(void* data) {
    auto* t = static_cast<Tracked*>(data);
    try {
        if (g_closer) g_closer->remove(t->id);
    } catch (const std::exception&) {
        return APR_SUCCESS;  // still listed: leak the duplicate rather than let it be reused
    }
    // httpd has shut the connection down or is about to close it (the pool is cleared right
    // after): closing our duplicate lets the socket go.
    ::close(t->fd);
    return APR_SUCCESS;
}

Tracked* tracked(conn_rec* c) {
    return static_cast<Tracked*>(ap_get_module_config(c->conn_config, &ha_heartbeat_module));
}

int follow_connection(conn_rec* c, void* csd) {
    if (!g_closer || c->master || !csd) return DECLINED;  // HTTP/2 streams have a master
    const int address = service_address_index(g_closer->config(), c->local_addr);
    if (address < 0) return DECLINED;
    apr_os_sock_t fd = -1;
    if (apr_os_sock_get(&fd, static_cast<apr_socket_t*>(csd)) != APR_SUCCESS || fd < 0)
        return DECLINED;
    const int own = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (own < 0) return DECLINED;  // out of descriptors: this connection is not followed
    auto* t = static_cast<Tracked*>(apr_palloc(c->pool, sizeof(Tracked)));
    t->fd = own;
    try {
        t->id = g_closer->add(own, address);
    } catch (const std::exception&) {
        ::close(own);
        return DECLINED;
    }
    ap_set_module_config(c->conn_config, &ha_heartbeat_module, t);
    apr_pool_cleanup_register(c->pool, t, forget_connection, apr_pool_cleanup_null);
    return DECLINED;
}

void request_begun(request_rec*, conn_rec* c) {
    if (Tracked* t = g_closer ? tracked(c) : nullptr) {
        try {
            g_closer->request_begun(t->id);
        } catch (const std::exception&) {
        }
    }
}

// Runs when the answer's last bucket has been written (httpd's end-of-request bucket).
int request_answered(request_rec* r) {
    conn_rec* c = r->connection;
    Tracked* t = g_closer ? tracked(c) : nullptr;
    if (!t || c->aborted || c->keepalive == AP_CONN_CLOSE) return DECLINED;
    // A connection switched to another protocol (h2c) is not one whose requests we follow.
    if (std::strcmp(ap_get_protocol(c), AP_PROTOCOL_HTTP1) != 0) return DECLINED;
    try {
        g_closer->answered(t->id);
    } catch (const std::exception&) {
    }
    return DECLINED;
}

}  // namespace

void register_quiet_connection_hooks() {
    ap_hook_child_init(child_init, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_pre_connection(follow_connection, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_pre_read_request(request_begun, nullptr, nullptr, APR_HOOK_MIDDLE);
    ap_hook_log_transaction(request_answered, nullptr, nullptr, APR_HOOK_MIDDLE);
}

}  // namespace ha_heartbeat
