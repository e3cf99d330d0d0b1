// `SetHandler docsync`: the primary's side of the protocol, adapting httpd requests to core/.
//   GET  <mount>/<export>/manifest[?wait=<s>&since=<etag>]   If-None-Match → long poll, 304
//   POST <mount>/<export>/files        body: percent-encoded paths, one per line → frames
//   POST <mount>/<export>/delta?p=<path>   body: librsync signature → librsync delta
//   POST <mount>/<export>/delta?p=<path>&basis=<sha256>   no body → librsync delta from the
//        block indexes (block_index.h), or 412 when they cannot answer (then with a signature)
//   GET  <mount>/<export>/file?p=<path>[&offset=<n>&length=<n>]  → raw bytes
// Every request must carry a valid HMAC signature (request_auth.h); anything else is a 403.
// Every answer carries a tag (answer_auth.h) bound to the request's nonce, method and path,
// its status and headers; the bodies of batches, deltas and ranges are authenticated frame
// streams (answer_stream.h) chained to that tag.
// clang-format off
#include <httpd.h>  // first: the other httpd headers need its types
// clang-format on
#include <ap_mpm.h>
#include <apr_shm.h>
#include <apr_strings.h>
#include <http_config.h>
#include <http_core.h>
#include <http_log.h>
#include <http_protocol.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <ctime>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "../common/httpd_glue.h"
#include "../common/shared_mutex.h"
#include "answer_auth.h"
#include "answer_stream.h"
#include "client_gone.h"
#include "docsync_glue.h"
#include "export_service.h"
#include "export_state.h"
#include "long_poll_cap.h"
#include "path_policy.h"
#include "request_auth.h"
#include "safe_fs.h"

APLOG_USE_MODULE(docsync);

namespace docsync {
namespace {

// Nonces accepted by any child, in shared memory that survives graceful restarts.
constexpr std::size_t kSharedNonceCapacity = 65536;  // ~1.5 MB; far above 60 s of sync traffic

struct SharedNonceRegion : SharedNonces {
    suite::SharedMutex* mutex = nullptr;
    NonceTable* table = nullptr;
    NonceResult remember(std::string_view nonce, std::int64_t now, std::int64_t horizon) override {
        suite::SharedLock lock(*mutex);
        return table->remember(nonce, now, horizon);
    }
};
SharedNonceRegion g_nonces;  // set in the parent, inherited by every child

// Per export (in configuration order), the manifest requests waiting in a long poll, counted by
// every child in shared memory of the configuration generation (children of an older one keep
// counting in theirs, which their generation's status page no longer shows).
using WaitCounter = std::atomic<std::uint32_t>;
static_assert(WaitCounter::is_always_lock_free, "lives in shared memory");
WaitCounter* g_waiting = nullptr;

// Every child's long polls against the cap, in shared memory that survives graceful restarts
// (children of the previous generation still count in it while they finish). Set in the parent.
LongPollTable* g_long_polls = nullptr;
unsigned g_long_poll_cap = 0;
// Room for the children of two generations at once (a graceful restart), and a margin.
constexpr std::size_t kLongPollEntrySpare = 16;
// While long polls are refused, one log line per this many seconds.
constexpr std::int64_t kRefusalLogPeriodSeconds = 60;

// Per child process: one watcher per export and the nonce memory of the verifier. Created in
// child_init, destroyed by the child pool's cleanup (which joins the watcher threads).
struct ChildState {
    SystemWallClock clock;
    std::unique_ptr<RequestVerifier> verifier;
    std::unique_ptr<AnswerSigner> signer;
    std::map<std::string, std::unique_ptr<ExportState>> exports;
    std::map<std::string, WaitCounter*> waiting;  // into g_waiting, by export name
    std::chrono::seconds long_poll{kDefaultLongPoll};
    int long_poll_entry = -1;  // this process's entry in g_long_polls
};

// Counts a long poll as waiting for as long as it lives.
class WaitingPoll {
  public:
    explicit WaitingPoll(WaitCounter* counter) : counter_(counter) {
        if (counter_) counter_->fetch_add(1, std::memory_order_relaxed);
    }
    ~WaitingPoll() {
        if (counter_) counter_->fetch_sub(1, std::memory_order_relaxed);
    }
    WaitingPoll(const WaitingPoll&) = delete;
    WaitingPoll& operator=(const WaitingPoll&) = delete;

  private:
    WaitCounter* counter_;
};
// Holds a place under the cap for as long as it lives, if there was one.
class LongPollPlace {
  public:
    LongPollPlace(LongPollTable* table, int entry, unsigned cap)
        : table_(table), entry_(entry), admitted_(!table || table->try_enter(entry, cap)) {}
    ~LongPollPlace() {
        if (table_ && admitted_) table_->leave(entry_);
    }
    LongPollPlace(const LongPollPlace&) = delete;
    LongPollPlace& operator=(const LongPollPlace&) = delete;
    bool admitted() const { return admitted_; }

  private:
    LongPollTable* table_;
    int entry_;
    bool admitted_;
};
ChildState* g_child = nullptr;

apr_status_t destroy_child_state(void*) {
    delete g_child;
    g_child = nullptr;
    return APR_SUCCESS;
}

std::map<std::string, std::string> parse_query(const char* args) {
    std::map<std::string, std::string> out;
    if (!args) return out;
    std::string_view q(args);
    std::size_t start = 0;
    while (start <= q.size()) {
        std::size_t end = q.find('&', start);
        if (end == std::string_view::npos) end = q.size();
        std::string_view kv = q.substr(start, end - start);
        std::size_t eq = kv.find('=');
        if (eq != std::string_view::npos) {
            auto value = percent_decode(kv.substr(eq + 1));
            if (value) out[std::string(kv.substr(0, eq))] = *value;
        }
        start = end + 1;
    }
    return out;
}

bool parse_u64(const std::string& s, std::uint64_t* out) {
    auto r = std::from_chars(s.data(), s.data() + s.size(), *out);
    return !s.empty() && r.ec == std::errc() && r.ptr == s.data() + s.size();
}

// Reads a request body of at most `max` bytes. Returns false (status set) if it is larger.
bool read_body(request_rec* r, std::size_t max, std::string* body, int* status) {
    *status = ap_setup_client_block(r, REQUEST_CHUNKED_DECHUNK);
    if (*status != OK) return false;
    if (r->remaining > static_cast<apr_off_t>(max)) {
        *status = HTTP_REQUEST_ENTITY_TOO_LARGE;
        return false;
    }
    if (!ap_should_client_block(r)) return true;
    char buf[16384];
    long n;
    while ((n = ap_get_client_block(r, buf, sizeof buf)) > 0) {
        body->append(buf, static_cast<std::size_t>(n));
        if (body->size() > max) {
            *status = HTTP_REQUEST_ENTITY_TOO_LARGE;
            return false;
        }
    }
    if (n < 0) {
        *status = HTTP_BAD_REQUEST;
        return false;
    }
    return true;
}

ByteSink client_sink(request_rec* r) {
    return [r](const char* p, std::size_t n) {
        return ap_rwrite(p, static_cast<int>(n), r) >= 0 && !r->connection->aborted;
    };
}

// What the answer to `r` says, for its tag: the request's nonce, method and path as the request
// MAC covered them, and the headers set so far.
AnswerFacts facts_of(request_rec* r, int status, apr_table_t* headers, const char* content_type,
                     std::string body) {
    AnswerFacts f;
    const char* nonce = apr_table_get(r->headers_in, std::string(kNonceHeader).c_str());
    f.nonce = nonce ? nonce : "";
    f.method = r->method;
    f.path = r->unparsed_uri;
    f.status = status;
    const char* etag = apr_table_get(headers, "ETag");
    if (etag) {
        f.etag = etag;
        if (f.etag.size() >= 2 && f.etag.front() == '"' && f.etag.back() == '"')
            f.etag = f.etag.substr(1, f.etag.size() - 2);
    }
    const char* version = apr_table_get(headers, std::string(kVersionHeader).c_str());
    f.version = version ? version : "";
    const char* kind = apr_table_get(headers, "X-DocSync-Manifest");
    f.manifest_kind = kind ? kind : "";
    f.content_type = content_type ? content_type : "";
    f.body = std::move(body);
    return f;
}

// Tags the answer and returns the tag (the start of a frame stream's chain).
std::string tag_answer(request_rec* r, apr_table_t* headers, const AnswerFacts& facts) {
    std::string tag = g_child->signer->tag(answer_message(facts));
    apr_table_set(headers, std::string(kAnswerAuthHeader).c_str(), tag.c_str());
    return tag;
}

// A 200 whose body is a frame stream: the writer's chain starts at the answer's tag.
FrameWriter framed_answer(request_rec* r) {
    constexpr const char* kType = "application/octet-stream";
    ap_set_content_type(r, kType);
    AnswerFacts facts = facts_of(r, HTTP_OK, r->headers_out, kType, "frames");
    std::string tag = tag_answer(r, r->headers_out, facts);
    return FrameWriter(*g_child->signer, facts.nonce, tag, client_sink(r));
}

bool server_stopping() {
    int state = AP_MPMQ_RUNNING;
    ap_mpm_query(AP_MPMQ_MPM_STATE, &state);
    return state == AP_MPMQ_STOPPING;
}

// The connection's client has closed (or reset) it while its request waits. On an HTTP/2 stream
// the client is that of the connection carrying it.
bool connection_gone(conn_rec* c) {
    while (c->master) c = c->master;
    if (c->aborted) return true;
    apr_socket_t* sock = ap_get_conn_socket(c);
    apr_os_sock_t fd;
    if (!sock || apr_os_sock_get(&fd, sock) != APR_SUCCESS) return false;
    return client_gone(fd);
}

// A long poll beyond the cap is answered at once, as if nothing changed; the secondary waits
// (at least a second) before it asks again.
void note_refused_long_poll(request_rec* r) {
    if (!g_long_polls->refusal_worth_logging(std::time(nullptr), kRefusalLogPeriodSeconds)) return;
    LongPollStats st = g_long_polls->stats(g_long_poll_cap);
    ap_log_rerror(APLOG_MARK, APLOG_WARNING, 0, r,
                  "docsync: %llu long polls waiting, the cap of DocSyncExportMaxLongPolls: "
                  "further ones are answered at once (%llu refused so far)",
                  static_cast<unsigned long long>(st.waiting),
                  static_cast<unsigned long long>(st.refused));
}

std::string unquote_etag(const char* h) {
    if (!h) return {};
    std::string s(h);
    if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
    return s;
}

int serve_manifest(request_rec* r, ExportState& ex, const std::map<std::string, std::string>& q) {
    std::string known = unquote_etag(apr_table_get(r->headers_in, "If-None-Match"));
    std::chrono::seconds wait{0};
    auto w = q.find("wait");
    std::uint64_t secs = 0;
    if (w != q.end() && parse_u64(w->second, &secs))
        wait = std::min(std::chrono::seconds(static_cast<std::int64_t>(secs)), g_child->long_poll);
    std::shared_ptr<const Snapshot> snap = ex.current();
    if (!snap) return HTTP_SERVICE_UNAVAILABLE;
    if (!known.empty() && snap->etag == known && wait.count() > 0) {
        LongPollPlace place(g_long_polls, g_child->long_poll_entry, g_long_poll_cap);
        if (place.admitted()) {
            auto counter = g_child->waiting.find(ex.name());
            WaitingPoll waiting(counter == g_child->waiting.end() ? nullptr : counter->second);
            bool gone = false;
            snap = ex.wait_for_change(known, wait, [r, &gone] {
                gone = connection_gone(r->connection);
                return gone || server_stopping();
            });
            if (gone) {
                if (g_long_polls) g_long_polls->note_client_gone();
                r->connection->keepalive = AP_CONN_CLOSE;
            }
        } else {
            note_refused_long_poll(r);
        }
    }
    apr_table_setn(r->headers_out, "ETag",
                   apr_pstrcat(r->pool, "\"", snap->etag.c_str(), "\"", nullptr));
    apr_table_setn(r->headers_out, "Cache-Control", "no-store");
    // Each child process scans on its own; the scan time lets a secondary recognise an answer
    // from a child that has not caught up yet with what another child already told it.
    // It is also the manifest's version (covered by the answer tag): a secondary never goes
    // back to an older one (manifest_version.h).
    apr_table_set(r->headers_out, std::string(kVersionHeader).c_str(),
                  std::to_string(snap->scanned_unix_ns).c_str());
    if (!known.empty() && snap->etag == known) return HTTP_NOT_MODIFIED;
    constexpr const char* kType = "text/plain; charset=us-ascii";
    ap_set_content_type(r, kType);
    std::string delta;
    auto since = q.find("since");
    if (since != q.end()) delta = ex.changes_since(since->second);
    const std::string& body = delta.empty() ? snap->text : delta;
    apr_table_setn(r->headers_out, "X-DocSync-Manifest", delta.empty() ? "full" : "delta");
    tag_answer(r, r->headers_out, facts_of(r, HTTP_OK, r->headers_out, kType, whole_body(body)));
    ap_set_content_length(r, static_cast<apr_off_t>(body.size()));
    if (r->header_only) return OK;
    ap_rwrite(body.data(), static_cast<int>(body.size()), r);
    return OK;
}

int serve_files(request_rec* r, ExportState& ex, int root_fd) {
    std::string body;
    int status;
    if (!read_body(r, kMaxBatchRequestBytes, &body, &status)) return status;
    std::vector<std::string> paths;
    std::string error;
    if (!parse_batch_request(body, &paths, &error)) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "docsync: refused batch: %s", error.c_str());
        return HTTP_BAD_REQUEST;
    }
    // The hashes this child's snapshot already has, for files unchanged since (size and mtime):
    // batch headers name each file's SHA-256 without reading the file twice.
    std::shared_ptr<const Snapshot> snap = ex.current();
    KnownHash known = [&snap](const std::string& path, const struct stat& st) -> std::string {
        if (!snap) return {};
        auto it = snap->manifest.find(path);
        if (it == snap->manifest.end() || it->second.type != EntryType::kFile) return {};
        const std::int64_t mtime =
            static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
        if (it->second.size != static_cast<std::uint64_t>(st.st_size) ||
            it->second.mtime_ns != mtime)
            return {};
        return it->second.sha256;
    };
    FrameWriter out = framed_answer(r);
    if (!serve_batch(root_fd, paths, known, out)) r->connection->keepalive = AP_CONN_CLOSE;
    return OK;
}

// The secondary names the content it has instead of sending its signature.
int serve_block_delta(request_rec* r, ExportState& ex, int root_fd, const std::string& path,
                      const std::string& basis) {
    std::string body, error;
    int status;
    if (!read_body(r, 0, &body, &status)) return status;
    BlockDeltaSource source;
    switch (prepare_block_delta(root_fd, ex.block_indexes(), path, basis, &source, &error)) {
        case ServeStatus::kOk:
            break;
        case ServeStatus::kUnknownBasis:
            return HTTP_PRECONDITION_FAILED;
        case ServeStatus::kNotFound:
            return HTTP_NOT_FOUND;
        default:
            return HTTP_BAD_REQUEST;
    }
    FrameWriter out = framed_answer(r);
    FramedByteSink frames(out);
    if (write_block_delta(*source.basis, *source.current, source.fd.get(), frames.sink(), &error)) {
        frames.finish();
    } else {
        r->connection->keepalive = AP_CONN_CLOSE;  // no last frame: the secondary sees it cut
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "docsync: block delta for %s failed: %s",
                      path.c_str(), error.c_str());
    }
    return OK;
}

int serve_delta_request(request_rec* r, ExportState& ex, int root_fd,
                        const std::map<std::string, std::string>& q) {
    auto p = q.find("p");
    if (p == q.end() || path_problem(p->second)) return HTTP_BAD_REQUEST;
    if (auto basis = q.find("basis"); basis != q.end())
        return serve_block_delta(r, ex, root_fd, p->second, basis->second);
    std::string signature;
    int status;
    if (!read_body(r, kMaxSignatureBytes, &signature, &status)) return status;
    std::string error;
    // Load the signature and open the file before the first byte goes out, so every refusal
    // is still a proper status code.
    RsSignature sig = load_signature(signature, &error);
    if (!sig) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "docsync: bad signature for %s: %s",
                      p->second.c_str(), error.c_str());
        return HTTP_BAD_REQUEST;
    }
    UniqueFd fd = open_file_beneath(root_fd, p->second);
    if (!fd) return HTTP_NOT_FOUND;
    FrameWriter out = framed_answer(r);
    FramedByteSink frames(out);
    rs_result res = delta_from_fd(sig.get(), fd.get(), frames.sink());
    if (res == RS_DONE) frames.finish();
    if (res != RS_DONE) {
        // Headers are gone: without the last frame the secondary sees the delta cut short.
        r->connection->keepalive = AP_CONN_CLOSE;
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "docsync: delta for %s failed: %s",
                      p->second.c_str(), rs_strerror(res));
    }
    return OK;
}

int serve_file_range(request_rec* r, int root_fd, const std::map<std::string, std::string>& q) {
    auto p = q.find("p");
    if (p == q.end()) return HTTP_BAD_REQUEST;
    std::uint64_t offset = 0, length = 0;
    auto o = q.find("offset");
    auto l = q.find("length");
    if ((o != q.end() && !parse_u64(o->second, &offset)) ||
        (l != q.end() && !parse_u64(l->second, &length)))
        return HTTP_BAD_REQUEST;
    std::string error;
    // Refusals are decided before the answer starts; its frames begin with the first byte.
    std::optional<FrameWriter> out;
    std::optional<FramedByteSink> frames;
    ByteSink sink = [&](const char* data, std::size_t n) {
        if (!out) {
            out.emplace(framed_answer(r));
            frames.emplace(*out);
        }
        return frames->sink()(data, n);
    };
    ServeStatus s = serve_range(root_fd, p->second, offset, length, sink, &error);
    switch (s) {
        case ServeStatus::kOk:
            if (!out) {
                out.emplace(framed_answer(r));
                frames.emplace(*out);
            }
            frames->finish();
            return OK;
        case ServeStatus::kBadRequest:
            return HTTP_BAD_REQUEST;
        case ServeStatus::kNotFound:
            return HTTP_NOT_FOUND;
        case ServeStatus::kFailed:
        case ServeStatus::kUnknownBasis:
            r->connection->keepalive = AP_CONN_CLOSE;
            return OK;
    }
    return OK;
}

unsigned max_request_workers() {
    int daemons = 0, threads = 0;
    ap_mpm_query(AP_MPMQ_MAX_DAEMONS, &daemons);
    ap_mpm_query(AP_MPMQ_MAX_THREADS, &threads);
    return static_cast<unsigned>(std::max(daemons, 1)) *
           static_cast<unsigned>(std::max(threads, 1));
}

bool process_alive(std::int64_t pid) {
    return ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

int long_poll_post_config(server_rec* s, ModuleConfig* config) {
    g_long_poll_cap = config->long_poll_cap;
    int limit = 0;
    ap_mpm_query(AP_MPMQ_HARD_LIMIT_DAEMONS, &limit);
    const std::size_t entries =
        2 * static_cast<std::size_t>(std::max(limit, 1)) + kLongPollEntrySpare;
    suite::PersistentSegment seg;
    apr_status_t rv = suite::persistent_segment(s, "docsync-long-polls",
                                                LongPollTable::bytes_needed(entries), &seg);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "DocSyncExportMaxLongPolls: cannot create shared memory for the cap");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    g_long_polls = seg.created ? nullptr : LongPollTable::attach(seg.base, seg.size);
    if (!g_long_polls) g_long_polls = LongPollTable::create(seg.base, entries);
    // Exits the MPM reported released their entries already; this catches any it did not.
    g_long_polls->sweep(process_alive);
    return OK;
}

}  // namespace

int export_check_config(server_rec* s, ModuleConfig* config) {
    if (config->exports.empty()) return OK;
    std::string error;
    if (!long_poll_cap(config->max_long_polls, max_request_workers(), &config->long_poll_cap,
                       &error)) {
        ap_log_error(APLOG_MARK, APLOG_STARTUP | APLOG_CRIT, 0, s,
                     "DocSyncExportMaxLongPolls %s: %s", describe(config->max_long_polls).c_str(),
                     error.c_str());
        return HTTP_INTERNAL_SERVER_ERROR;
    }
#ifdef DOCSYNC_BENCH_WITHOUT_LONG_POLL_CAP
    // Only for the comparison in bench/docsync_fanout.py --restart-loop (its own build): no
    // value of the directive lifts the cap, on purpose, so what it buys is measured this way.
    config->long_poll_cap = std::numeric_limits<unsigned>::max();
#endif
    return OK;
}

void export_child_exited(pid_t pid) {
    if (g_long_polls) g_long_polls->release(pid);
}

std::optional<LongPollStats> long_poll_stats() {
    if (!g_child || !g_long_polls) return std::nullopt;
    return g_long_polls->stats(g_long_poll_cap);
}

int export_post_config(apr_pool_t* pconf, server_rec* s, ModuleConfig* config) {
    g_waiting = nullptr;
    g_long_polls = nullptr;
    if (config->exports.empty()) return OK;
    if (int rc = long_poll_post_config(s, config); rc != OK) return rc;
    apr_shm_t* waiting = nullptr;
    apr_status_t wrv =
        apr_shm_create(&waiting, sizeof(WaitCounter) * config->exports.size(), nullptr, pconf);
    if (wrv == APR_SUCCESS) {
        auto* counters = static_cast<WaitCounter*>(apr_shm_baseaddr_get(waiting));
        for (std::size_t i = 0; i < config->exports.size(); ++i) new (&counters[i]) WaitCounter(0);
        g_waiting = counters;
    } else {
        ap_log_error(APLOG_MARK, APLOG_WARNING, wrv, s,
                     "DocSyncExport: no shared memory for counting long polls; the status page "
                     "shows none waiting");
    }
    constexpr std::size_t kMutexBytes = 64;  // SharedMutex, padded to keep the table aligned
    static_assert(sizeof(suite::SharedMutex) <= kMutexBytes, "mutex slot too small");
    std::size_t bytes = kMutexBytes + NonceTable::bytes_needed(kSharedNonceCapacity);
    suite::PersistentSegment seg;
    apr_status_t rv = suite::persistent_segment(s, "docsync-nonces", bytes, &seg);
    if (rv != APR_SUCCESS) {
        ap_log_error(APLOG_MARK, APLOG_CRIT, rv, s,
                     "DocSyncExport: cannot create shared memory for replay protection");
        return HTTP_INTERNAL_SERVER_ERROR;
    }
    auto* base = static_cast<char*>(seg.base);
    g_nonces.mutex = reinterpret_cast<suite::SharedMutex*>(base);
    g_nonces.table =
        seg.created ? nullptr : NonceTable::attach(base + kMutexBytes, seg.size - kMutexBytes);
    if (!g_nonces.table) {
        if (!g_nonces.mutex->init()) {
            ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s, "DocSyncExport: cannot initialise mutex");
            return HTTP_INTERNAL_SERVER_ERROR;
        }
        g_nonces.table = NonceTable::create(base + kMutexBytes, kSharedNonceCapacity);
    }
    return OK;
}

void export_child_init(apr_pool_t* pchild, server_rec* s) {
    ModuleConfig* config = module_config(s);
    if (config->exports.empty()) return;
    g_child = new ChildState;
    apr_pool_cleanup_register(pchild, nullptr, destroy_child_state, apr_pool_cleanup_null);
    g_child->verifier = std::make_unique<RequestVerifier>(
        config->secret, g_child->clock, config->max_skew, g_nonces.table ? &g_nonces : nullptr);
    g_child->signer = config->signing_key.empty() ? hmac_answer_signer(config->secret)
                                                  : ed25519_answer_signer(config->signing_key);
    if (!g_child->signer)
        ap_log_error(APLOG_MARK, APLOG_CRIT, 0, s,
                     "DocSyncSigningKeyFile: OpenSSL refused the key; exports answer 404");
    g_child->long_poll = config->long_poll;
    if (g_long_polls) {
        g_child->long_poll_entry = g_long_polls->claim(::getpid());
        if (g_child->long_poll_entry < 0)
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s,
                         "docsync: no entry left in the long-poll table (%zu children); this "
                         "child answers every long poll at once",
                         g_long_polls->entries());
    }
    std::size_t slot = 0;  // the export's counter in g_waiting
    for (const auto& e : config->exports) {
        auto state = std::make_unique<ExportState>(e.name, e.directory, config->rescan_interval);
        std::string name = e.name;
        state->set_problem_reporter([s, name](const std::string& problem) {
            ap_log_error(APLOG_MARK, APLOG_WARNING, 0, s, "docsync: export %s: %s", name.c_str(),
                         problem.c_str());
        });
        std::string error;
        if (!state->start(&error))
            ap_log_error(APLOG_MARK, APLOG_ERR, 0, s, "docsync: export %s (%s): %s", e.name.c_str(),
                         e.directory.c_str(), error.c_str());
        else if (!state->inotify_active())
            ap_log_error(
                APLOG_MARK, APLOG_WARNING, 0, s,
                "docsync: export %s: inotify unavailable, relying on rescans every %lld ms",
                e.name.c_str(), static_cast<long long>(config->rescan_interval.count()));
        g_child->exports.emplace(e.name, std::move(state));
        if (g_waiting) g_child->waiting.emplace(e.name, &g_waiting[slot]);
        ++slot;
    }
}

std::vector<ExportStatus> export_statuses() {
    std::vector<ExportStatus> out;
    if (!g_child) return out;
    for (const auto& [name, state] : g_child->exports) {
        ExportStatus& e = out.emplace_back();
        e.name = name;
        if (auto snap = state->current()) {
            e.scanned = true;
            e.manifest_bytes = snap->text.size();
            e.entries = snap->manifest.size();
        }
        auto counter = g_child->waiting.find(name);
        if (counter != g_child->waiting.end())
            e.long_polls_waiting = counter->second->load(std::memory_order_relaxed);
    }
    return out;
}

static int handle_export_request(request_rec* r) {
    AuthResult auth = g_child->verifier->verify(
        r->method, r->unparsed_uri, apr_table_get(r->headers_in, std::string(kTimeHeader).c_str()),
        apr_table_get(r->headers_in, std::string(kNonceHeader).c_str()),
        apr_table_get(r->headers_in, std::string(kSignatureHeader).c_str()));
    if (auth != AuthResult::kOk) {
        ap_log_rerror(APLOG_MARK, APLOG_INFO, 0, r, "docsync: refused %s %s: %s", r->method, r->uri,
                      to_string(auth));
        return HTTP_FORBIDDEN;
    }
    // <mount>/<export>/<operation>: the mount point is wherever the admin put SetHandler.
    std::string uri(r->uri);
    std::size_t op_slash = uri.rfind('/');
    if (op_slash == std::string::npos || op_slash == 0) return HTTP_NOT_FOUND;
    std::size_t name_slash = uri.rfind('/', op_slash - 1);
    if (name_slash == std::string::npos) return HTTP_NOT_FOUND;
    std::string op = uri.substr(op_slash + 1);
    std::string name = uri.substr(name_slash + 1, op_slash - name_slash - 1);
    auto it = g_child->exports.find(name);
    if (it == g_child->exports.end()) return HTTP_NOT_FOUND;
    ExportState& ex = *it->second;
    auto q = parse_query(r->args);

    if (op == "manifest") {
        if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
        return serve_manifest(r, ex, q);
    }
    UniqueFd root = open_root(ex.root());
    if (!root) return HTTP_SERVICE_UNAVAILABLE;
    if (op == "files") {
        if (r->method_number != M_POST) return HTTP_METHOD_NOT_ALLOWED;
        return serve_files(r, ex, root.get());
    }
    if (op == "delta") {
        if (r->method_number != M_POST) return HTTP_METHOD_NOT_ALLOWED;
        return serve_delta_request(r, ex, root.get(), q);
    }
    if (op == "file") {
        if (r->method_number != M_GET) return HTTP_METHOD_NOT_ALLOWED;
        return serve_file_range(r, root.get(), q);
    }
    return HTTP_NOT_FOUND;
}

int export_handler(request_rec* r) {
    if (!g_child || !g_child->verifier || !g_child->signer) return HTTP_NOT_FOUND;
    int status = handle_export_request(r);
    // Refusals and 304 are tagged too, so the secondary can tell the primary's "no" or "not
    // modified" from anyone else's. httpd sends err_headers_out with an error page, and
    // headers_out with a 304.
    if (status == HTTP_NOT_MODIFIED)
        tag_answer(r, r->headers_out, facts_of(r, status, r->headers_out, nullptr, "none"));
    else if (status != OK)
        tag_answer(r, r->err_headers_out, facts_of(r, status, r->err_headers_out, nullptr, "none"));
    return status;
}

}  // namespace docsync
