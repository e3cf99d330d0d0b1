#include "curl_transport.h"

#include <cstdlib>
#include <cstring>

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

struct CurlTransport::Request {
    const ByteSink* sink = nullptr;
    CURL* curl = nullptr;
    long status = 0;
    std::string error_body;
    std::string etag;
    std::string manifest_kind;
    std::string scanned;
    bool sink_failed = false;

    static std::size_t on_data(char* p, std::size_t size, std::size_t n, void* arg) {
        auto* self = static_cast<Request*>(arg);
        std::size_t len = size * n;
        if (!self->status) curl_easy_getinfo(self->curl, CURLINFO_RESPONSE_CODE, &self->status);
        if (self->status != 200) {
            if (self->error_body.size() < kMaxErrorBodyBytes)
                self->error_body.append(p, std::min(len, kMaxErrorBodyBytes));
            return len;
        }
        if (!(*self->sink)(p, len)) {
            self->sink_failed = true;
            return 0;  // aborts the transfer
        }
        return len;
    }
    static std::size_t on_header(char* p, std::size_t size, std::size_t n, void* arg) {
        auto* self = static_cast<Request*>(arg);
        std::string line(p, size * n);
        while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.pop_back();
        auto value_of = [&](const char* name) -> std::optional<std::string> {
            std::size_t len = std::strlen(name);
            if (line.size() <= len || strncasecmp(line.c_str(), name, len) != 0)
                return std::nullopt;
            std::string v = line.substr(len);
            while (!v.empty() && v.front() == ' ') v.erase(0, 1);
            return v;
        };
        if (auto v = value_of("ETag:")) {
            std::string e = *v;
            if (e.size() >= 2 && e.front() == '"' && e.back() == '"') e = e.substr(1, e.size() - 2);
            self->etag = e;
        } else if (auto k = value_of("X-DocSync-Manifest:")) {
            self->manifest_kind = *k;
        } else if (auto t = value_of("X-DocSync-Scanned:")) {
            self->scanned = *t;
        }
        return size * n;
    }
};

CurlTransport::CurlTransport(const std::string& export_url, std::string secret, std::string ca_file)
    : curl_(curl_easy_init()),
      base_url_(export_url),
      secret_(std::move(secret)),
      ca_file_(std::move(ca_file)) {
    std::size_t scheme = base_url_.find("://");
    std::size_t slash =
        scheme == std::string::npos ? std::string::npos : base_url_.find('/', scheme + 3);
    base_path_ = slash == std::string::npos ? std::string() : base_url_.substr(slash);
}

long CurlTransport::perform(const char* method, const std::string& suffix, const std::string* body,
                            const std::string& if_none_match, std::chrono::seconds timeout,
                            const ByteSink& sink, Request& req, std::string* error) {
    CURL* c = curl_.get();
    if (!c) {
        *error = "curl_easy_init failed";
        return 0;
    }
    curl_easy_reset(c);  // keeps the connection cache; clears per-request options
    std::string url = base_url_ + suffix;
    SignedHeaders sig = sign_request(secret_, method, base_path_ + suffix, clock_);
    std::unique_ptr<curl_slist, SlistDeleter> headers;
    auto add = [&](const std::string& h) {
        headers.reset(curl_slist_append(headers.release(), h.c_str()));
    };
    add(std::string(kTimeHeader) + ": " + sig.time);
    add(std::string(kNonceHeader) + ": " + sig.nonce);
    add(std::string(kSignatureHeader) + ": " + sig.signature);
    add("Expect:");  // no 100-continue round trip for small bodies
    if (!if_none_match.empty()) add("If-None-Match: \"" + if_none_match + "\"");

    req.sink = &sink;
    req.curl = c;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
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
    if (!ca_file_.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, ca_file_.c_str());
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
            return 0;
        }
        if (timeout.count() == 0 || left < timeout)
            curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(left.count()));
    }
    if (body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    CURLcode rc = curl_easy_perform(c);
    curl_off_t down = 0, up = 0;
    long header_bytes = 0, request_bytes = 0;
    curl_easy_getinfo(c, CURLINFO_SIZE_DOWNLOAD_T, &down);
    curl_easy_getinfo(c, CURLINFO_HEADER_SIZE, &header_bytes);
    curl_easy_getinfo(c, CURLINFO_SIZE_UPLOAD_T, &up);
    curl_easy_getinfo(c, CURLINFO_REQUEST_SIZE, &request_bytes);
    received_ += static_cast<std::uint64_t>(down) + static_cast<std::uint64_t>(header_bytes);
    sent_ += static_cast<std::uint64_t>(up) + static_cast<std::uint64_t>(request_bytes);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &req.status);
    if (rc != CURLE_OK) {
        *error = req.sink_failed ? "response refused by the receiver"
                                 : std::string(curl_easy_strerror(rc)) + " (" + url + ")";
        return 0;
    }
    if (req.status != 200 && req.status != 304)
        *error = "HTTP " + std::to_string(req.status) + " from " + url;
    return req.status;
}

ManifestResponse CurlTransport::get_manifest(const std::string& known_etag,
                                             std::chrono::seconds wait) {
    ManifestResponse out;
    std::string suffix = "/manifest?wait=" + std::to_string(wait.count());
    if (!known_etag.empty()) suffix += "&since=" + known_etag;
    Request req;
    ByteSink sink = [&](const char* p, std::size_t n) {
        if (out.body.size() + n > kMaxManifestBytes) return false;
        out.body.append(p, n);
        return true;
    };
    out.status =
        perform("GET", suffix, nullptr, known_etag, wait + kManifestGrace, sink, req, &out.error);
    out.etag = req.etag;
    out.is_delta = req.manifest_kind == "delta";
    out.scanned_unix_ns = std::strtoll(req.scanned.c_str(), nullptr, 10);
    if (out.status != 200) out.body.clear();
    return out;
}

bool CurlTransport::fetch_files(const std::vector<std::string>& paths, BatchDecoder& decoder,
                                std::string* error) {
    std::string body = serialise_batch_request(paths);
    Request req;
    ByteSink sink = [&](const char* p, std::size_t n) { return decoder.feed(p, n); };
    long status = perform("POST", "/files", &body, "", std::chrono::seconds(0), sink, req, error);
    if (status != 200 && error->empty()) *error = decoder.error();
    return status == 200;
}

bool CurlTransport::fetch_delta(const std::string& path, const std::string& signature,
                                const ByteSink& sink, std::string* error) {
    Request req;
    long status = perform("POST", "/delta?p=" + url_encode(path), &signature, "",
                          std::chrono::seconds(0), sink, req, error);
    return status == 200;
}

}  // namespace docsync
