#include "curl_transport.h"

#include <strings.h>

#include <cstring>
#include <optional>

#include "answer_stream.h"
#include "export_service.h"
#include "path_policy.h"

namespace docsync {

namespace {

constexpr long kConnectTimeoutSeconds = 10;
// Outside a round's own limits (round_limits.h): a transfer that moves less than
// kStallBytesPerSecond for kStallSeconds is abandoned.
constexpr long kStallSeconds = 60;
constexpr std::chrono::seconds kManifestGrace{30};
constexpr std::size_t kMaxErrorBodyBytes = 1024;

struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

}  // namespace

// One request/answer. The answer is checked before its body is used: a whole body (manifest)
// once it is complete and before it is parsed; a frame stream (batch, delta) on its first byte,
// whose frames the FrameReader then checks one by one before its reader sees them.
struct CurlTransport::Request {
    enum class Body { kWhole, kFrames };
    Body kind = Body::kWhole;
    std::size_t max_whole = 0;
    FrameSink* frames = nullptr;
    std::unique_ptr<FrameReader> reader;
    const AnswerVerifier* verifier = nullptr;
    AnswerFacts facts;  // nonce, method and path of the request; the rest from the answer
    std::string tag;
    CURL* curl = nullptr;
    long status = 0;
    std::string body;  // whole body, or the start of an error body
    bool too_large = false;
    bool auth_failed = false;
    bool sink_failed = false;

    bool check(const std::string& body_description) {
        facts.status = status;
        facts.body = body_description;
        if (body_description == "none") facts.content_type.clear();  // httpd's own error page
        bool ok = !tag.empty() && verifier->check(answer_message(facts), tag);
        auth_failed = auth_failed || !ok;
        return ok;
    }
    static std::size_t on_data(char* p, std::size_t size, std::size_t n, void* arg) {
        auto* self = static_cast<Request*>(arg);
        std::size_t len = size * n;
        if (!self->status) curl_easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, &self->status);
        if (self->status != 200) {
            if (self->body.size() < kMaxErrorBodyBytes)
                self->body.append(p, std::min(len, kMaxErrorBodyBytes));
            return len;
        }
        if (self->kind == Body::kWhole) {
            if (self->body.size() + len > self->max_whole) {
                self->too_large = true;
                return 0;
            }
            self->body.append(p, len);
            return len;
        }
        if (!self->reader) {
            if (!self->check("frames")) return 0;  // aborts the transfer
            self->reader = std::make_unique<FrameReader>(*self->verifier, self->facts.nonce,
                                                         self->tag, *self->frames);
        }
        if (!self->reader->feed(p, len)) {
            self->auth_failed = self->reader->auth_failed();
            self->sink_failed = !self->auth_failed;
            return 0;
        }
        return len;
    }
    static std::size_t on_header(char* p, std::size_t size, std::size_t n, void* arg) {
        auto* self = static_cast<Request*>(arg);
        std::string line(p, size * n);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r' || line.back() == ' '))
            line.pop_back();
        auto value_of = [&](std::string_view name) -> std::optional<std::string> {
            if (line.size() <= name.size() + 1 ||
                strncasecmp(line.c_str(), name.data(), name.size()) != 0 ||
                line[name.size()] != ':')
                return std::nullopt;
            std::string v = line.substr(name.size() + 1);
            while (!v.empty() && v.front() == ' ') v.erase(0, 1);
            return v;
        };
        if (line.rfind("HTTP/", 0) == 0) {  // a new status line: forget an interim answer's
            self->facts.etag.clear();
            self->facts.version.clear();
            self->facts.manifest_kind.clear();
            self->facts.content_type.clear();
            self->tag.clear();
        } else if (auto v = value_of("ETag")) {
            std::string e = *v;
            if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
            self->facts.etag = e;
        } else if (auto k = value_of("X-DocSync-Manifest")) {
            self->facts.manifest_kind = *k;
        } else if (auto t = value_of(kVersionHeader)) {
            self->facts.version = *t;
        } else if (auto c = value_of("Content-Type")) {
            self->facts.content_type = *c;
        } else if (auto a = value_of(kAnswerAuthHeader)) {
            if (a->size() <= kMaxAnswerTagHexChars) self->tag = *a;
        }
        return size * n;
    }
};

CurlTransport::CurlTransport(const std::string& export_url, std::string secret, std::string ca_file,
                             std::unique_ptr<AnswerVerifier> verifier)
    : CurlTransport(export_url, std::move(secret), std::move(ca_file),
                    std::shared_ptr<const AnswerVerifier>(std::move(verifier))) {}

std::unique_ptr<Transport> CurlTransport::parallel_transport() {
    auto t = std::make_unique<CurlTransport>(base_url_, secret_, ca_file_, verifier_);
    t->set_round_limits(deadline_, stall_);
    return t;
}

CurlTransport::CurlTransport(const std::string& export_url, std::string secret, std::string ca_file,
                             std::shared_ptr<const AnswerVerifier> verifier)
    : curl_(curl_easy_init()),
      base_url_(export_url),
      secret_(std::move(secret)),
      ca_file_(std::move(ca_file)),
      verifier_(std::move(verifier)) {
    std::size_t scheme = base_url_.find("://");
    std::size_t slash =
        scheme == std::string::npos ? std::string::npos : base_url_.find('/', scheme + 3);
    base_path_ = slash == std::string::npos ? std::string() : base_url_.substr(slash);
}

// The options every request sets: where it goes, its headers and callbacks, TLS verification,
// no redirect, no proxy.
void CurlTransport::set_request_options(CURL* c, const std::string& url, curl_slist* headers,
                                        Request& req) const {
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Request::on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &req);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Request::on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &req);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, kConnectTimeoutSeconds);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);  // a redirect would change what was signed
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
    // The primary is reached directly: an http_proxy/https_proxy in the environment of whoever
    // started httpd must not route the sync elsewhere.
    curl_easy_setopt(c, CURLOPT_PROXY, "");
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (!ca_file_.empty()) {
        // The configured anchors replace the system store (file and directory) instead of
        // adding to it: a certificate any public CA issued for the name is not enough.
        curl_easy_setopt(c, CURLOPT_CAINFO, ca_file_.c_str());
        curl_easy_setopt(c, CURLOPT_CAPATH, nullptr);
    }
}

// `timeout` (0: none, only the stall limit) and the round's deadline; false (error set) if the
// deadline has passed already.
bool CurlTransport::set_time_limits(CURL* c, std::chrono::seconds timeout, const std::string& url,
                                    std::string* error) const {
    if (timeout.count() > 0) {
        curl_easy_setopt(c, CURLOPT_TIMEOUT, static_cast<long>(timeout.count()));
    } else {
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, static_cast<long>(kStallBytesPerSecond));
        curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME,
                         static_cast<long>(stall_.count() > 0 ? stall_.count() : kStallSeconds));
    }
    if (deadline_ != std::chrono::steady_clock::time_point::max()) {
        // The round's deadline bounds every request in it, however slowly bytes trickle in.
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline_ - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            *error = "round-timeout reached (" + url + ")";
            return false;
        }
        if (timeout.count() == 0 || left < timeout)
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
    }
    return true;
}

// The bytes of the transfer just done, headers included, both ways.
void CurlTransport::count_transfer(CURL* c) {
    curl_off_t down = 0, up = 0;
    long header_bytes = 0, request_bytes = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(c, CURLINFO_HEADER_SIZE, &header_bytes);
    curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_bytes);
    received_ += static_cast<std::uint64_t>(down) + static_cast<std::uint64_t>(header_bytes);
    sent_ += static_cast<std::uint64_t>(up) + static_cast<std::uint64_t>(request_bytes);
}

// The status of a finished transfer once its answer authenticated; 0 (error set) otherwise.
long CurlTransport::judge_answer(CURLcode rc, Request& req, const std::string& url,
                                 std::string* error) {
    auto refused = [&](const std::string& what) {
        *error = std::string(kAuthFailedError) + ": " + what + " (" + url + ")";
        return 0L;
    };
    if (req.auth_failed)
        return refused(req.reader ? req.reader->error()
                                  : "answer not signed with the primary's key");
    if (rc != CURLE_OK) {
        *error = req.too_large     ? "answer larger than allowed (" + url + ")"
                 : req.sink_failed ? "response refused by the receiver: " + req.reader->error()
                                   : std::string(curl_easy_strerror(rc)) + " (" + url + ")";
        return 0;
    }
    if (req.status == 200) {
        if (req.kind == Request::Body::kWhole) {
            if (!req.check(whole_body(req.body)))
                return refused("answer not signed with the primary's key");
        } else if (!req.reader) {
            if (!req.check("frames")) return refused("answer not signed with the primary's key");
            return refused("answer stream without frames");
        } else if (!req.reader->finished()) {
            return refused("answer stream cut short");
        }
        return 200;
    }
    // Error statuses and 304 carry no body that is used; their tag still binds them to this
    // request, so a foreign "not modified" cannot hold a source on old content.
    if (!req.check("none"))
        return refused("HTTP " + std::to_string(req.status) +
                       " answer not signed with the primary's key");
    if (req.status != 304) *error = "HTTP " + std::to_string(req.status) + " from " + url;
    return req.status;
}

long CurlTransport::perform(const char* method, const std::string& suffix, const std::string* body,
                            const std::string& if_none_match, std::chrono::seconds timeout,
                            Request& req, std::string* error) {
    CURL* c = curl_.get();
    if (!c) {
        *error = "curl_easy_init failed";
        return 0;
    }
    curl_easy_reset(c);  // keeps the connection cache; clears per-request options
    std::string url = base_url_ + suffix;
    SignedHeaders sig = sign_request(secret_, method, base_path_ + suffix, clock_);
    req.verifier = verifier_.get();
    req.facts.nonce = sig.nonce;
    req.facts.method = method;
    req.facts.path = base_path_ + suffix;
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    auto add = [&](const std::string& h) {
        headers.reset(curl_slist_append(headers.release(), h.c_str()));
    };
    add(std::string(kTimeHeader) + ": " + sig.time);
    add(std::string(kNonceHeader) + ": " + sig.nonce);
    add(std::string(kSignatureHeader) + ": " + sig.signature);
    add("Expect:");  // no 100-continue round trip for small bodies
    if (!if_none_match.empty()) add("If-None-Match: \"" + if_none_match + "\"");

    req.curl = c;
    set_request_options(c, url, headers.get(), req);
    if (!set_time_limits(c, timeout, url, error)) return 0;
    if (body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(c);
    count_transfer(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &req.status);
    return judge_answer(rc, req, url, error);
}

ManifestResponse CurlTransport::get_manifest(const std::string& known_etag,
                                             std::chrono::seconds wait) {
    ManifestResponse out;
    std::string suffix = "/manifest?wait=" + std::to_string(wait.count());
    if (!known_etag.empty()) suffix += "&since=" + known_etag;
    Request req;
    req.kind = Request::Body::kWhole;
    req.max_whole = kMaxManifestBytes;
    out.status =
        perform("GET", suffix, nullptr, known_etag, wait + kManifestGrace, req, &out.error);
    out.auth_failed = req.auth_failed;
    out.etag = req.facts.etag;
    out.is_delta = req.facts.manifest_kind == "delta";
    out.version = req.facts.version;
    if (out.status == 200) out.body = std::move(req.body);
    return out;
}

bool CurlTransport::fetch_files(const std::vector<std::string>& paths, BatchDecoder& decoder,
                                std::string* error) {
    std::string body = serialise_batch_request(paths);
    Request req;
    req.kind = Request::Body::kFrames;
    req.frames = &decoder;
    long status = perform("POST", "/files", &body, "", std::chrono::seconds(0), req, error);
    if (status != 200 && !req.auth_failed && !decoder.error().empty()) *error = decoder.error();
    return status == 200;
}

bool CurlTransport::fetch_delta(const std::string& path, const std::string& signature,
                                const ByteSink& sink, std::string* error) {
    DataFrameSink frames(sink);
    Request req;
    req.kind = Request::Body::kFrames;
    req.frames = &frames;
    long status = perform("POST", "/delta?p=" + url_encode(path), &signature, "",
                          std::chrono::seconds(0), req, error);
    return status == 200;
}

BasisDelta CurlTransport::fetch_delta_from_basis(const std::string& path,
                                                 const std::string& basis_sha256,
                                                 const ByteSink& sink, std::string* error) {
    DataFrameSink frames(sink);
    Request req;
    req.kind = Request::Body::kFrames;
    req.frames = &frames;
    const std::string none;
    long status = perform("POST", "/delta?p=" + url_encode(path) + "&basis=" + basis_sha256, &none,
                          "", std::chrono::seconds(0), req, error);
    if (status == 200) return BasisDelta::served;
    // 412 is authenticated like every answer (perform checked its tag).
    if (status == 412) {
        error->clear();
        return BasisDelta::unknown_basis;
    }
    return BasisDelta::failed;
}

}  // namespace docsync
