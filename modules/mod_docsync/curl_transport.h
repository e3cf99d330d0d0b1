// The secondary's HTTP client: libcurl, one easy handle per source so the connection (and TLS
// session) is reused across requests; every request signed (request_auth.h) and every answer
// checked against the primary's key (answer_auth.h) before any of it is parsed; https verified
// against DocSyncCACertificateFile alone when it is set (else the system store); proxy
// environment variables ignored. No httpd headers: runs in the sync child.
#pragma once

#include <curl/curl.h>

#include <chrono>
#include <memory>
#include <string>

#include "answer_auth.h"
#include "request_auth.h"
#include "source_follower.h"
#include "sync_engine.h"

namespace docsync {

class CurlTransport : public FollowerTransport {
  public:
    CurlTransport(const std::string& export_url, std::string secret, std::string ca_file,
                  std::unique_ptr<AnswerVerifier> verifier);
    CurlTransport(const std::string& export_url, std::string secret, std::string ca_file,
                  std::shared_ptr<const AnswerVerifier> verifier);
    // A second connection with the same credentials and checks, for batches fetched at the same
    // time (the verifier is only read: AnswerVerifier::check is const).
    std::unique_ptr<Transport> parallel_transport() override;
    void add_counts(std::uint64_t received, std::uint64_t sent) override {
        received_ += received;
        sent_ += sent;
    }
    ManifestResponse get_manifest(const std::string& known_etag,
                                  std::chrono::seconds wait) override;
    bool fetch_files(const std::vector<std::string>& paths, BatchDecoder& decoder,
                     std::string* error) override;
    bool fetch_delta(const std::string& path, const std::string& signature, const ByteSink& sink,
                     std::string* error) override;
    BasisDelta fetch_delta_from_basis(const std::string& path, const std::string& basis_sha256,
                                      const ByteSink& sink, std::string* error) override;
    std::uint64_t bytes_received() const override { return received_; }
    std::uint64_t bytes_sent() const override { return sent_; }
    void set_round_limits(std::chrono::steady_clock::time_point deadline,
                          std::chrono::seconds stall) override {
        deadline_ = deadline;
        stall_ = stall;
    }

  private:
    struct Request;
    long perform(const char* method, const std::string& suffix, const std::string* body,
                 const std::string& if_none_match, std::chrono::seconds timeout, Request& req,
                 std::string* error);
    void set_request_options(CURL* c, const std::string& url, curl_slist* headers,
                             Request& req) const;
    bool set_time_limits(CURL* c, std::chrono::seconds timeout, const std::string& url,
                         std::string* error) const;
    void count_transfer(CURL* c);
    static long judge_answer(CURLcode rc, Request& req, const std::string& url, std::string* error);

    struct CurlDeleter {
        void operator()(CURL* c) const { curl_easy_cleanup(c); }
    };
    std::unique_ptr<CURL, CurlDeleter> curl_;
    std::string base_url_;
    std::string base_path_;
    std::string secret_;
    std::string ca_file_;
    std::shared_ptr<const AnswerVerifier> verifier_;
    SystemWallClock clock_;
    std::uint64_t received_ = 0;
    std::uint64_t sent_ = 0;
    std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
    std::chrono::seconds stall_{0};  // 0: kStallSeconds
};

}  // namespace docsync
