// The follower's decisions between rounds, on a simulated clock: every wait is a sleep_for the
// clock records, every answer of the primary is scripted.
#include "source_follower.h"

#include <sys/stat.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <deque>
#include <memory>

#include "test_support.h"

using namespace docsync;
using namespace std::chrono_literals;
using docsync_test::exists;
using docsync_test::TempDir;

namespace {

class SimClock : public FollowerClock {
  public:
    std::chrono::steady_clock::time_point now() const override { return now_; }
    std::int64_t unix_now() const override {
        return kStartUnix + std::chrono::duration_cast<std::chrono::seconds>(now_ - start_).count();
    }
    void sleep_for(std::chrono::steady_clock::duration d) override {
        slept.push_back(d);
        now_ += d;
    }
    void advance(std::chrono::steady_clock::duration d) { now_ += d; }
    std::chrono::steady_clock::duration since_start() const { return now_ - start_; }

    static constexpr std::int64_t kStartUnix = 1'700'000'000;
    std::vector<std::chrono::steady_clock::duration> slept;

  private:
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::time_point{} + 1h;
    std::chrono::steady_clock::time_point now_ = start_;
};

// Answers manifest requests from a script; has no files to give (a round that needs one is
// incomplete).
class ScriptedPrimary : public FollowerTransport {
  public:
    explicit ScriptedPrimary(SimClock& clock) : clock_(clock) {}
    struct Ask {
        std::string known_etag;
        std::chrono::seconds wait;
    };
    ManifestResponse get_manifest(const std::string& known_etag,
                                  std::chrono::seconds wait) override {
        asks.push_back({known_etag, wait});
        clock_.advance(answer_delay);
        received_ += kManifestBytes;
        if (answers.empty()) return ManifestResponse{0, "", "", false, "", false, "script ended"};
        ManifestResponse r = answers.front();
        answers.pop_front();
        return r;
    }
    bool fetch_files(const std::vector<std::string>&, BatchDecoder&, std::string* error) override {
        ++file_requests;
        *error = files_error;
        return false;
    }
    bool fetch_delta(const std::string&, const std::string&, const ByteSink&,
                     std::string* error) override {
        *error = files_error;
        return false;
    }
    std::uint64_t bytes_received() const override { return received_; }
    std::uint64_t bytes_sent() const override { return 0; }

    static constexpr std::uint64_t kManifestBytes = 100;
    std::deque<ManifestResponse> answers;
    std::vector<Ask> asks;
    std::chrono::steady_clock::duration answer_delay{0};
    std::string files_error = "no files here";
    int file_requests = 0;

  private:
    SimClock& clock_;
    std::uint64_t received_ = 0;
};

Manifest dirs(std::initializer_list<const char*> names) {
    Manifest m;
    for (const char* n : names) {
        Entry e;
        e.type = EntryType::kDir;
        e.mode = 0755;
        e.mtime_ns = 1'000'000'000;
        m[n] = e;
    }
    return m;
}

ManifestResponse full(const Manifest& m, std::int64_t version) {
    ManifestResponse r;
    r.status = 200;
    r.body = serialise(m);
    r.etag = manifest_etag(m);
    r.version = std::to_string(version);
    return r;
}

ManifestResponse delta(const Manifest& from, const std::string& from_etag, const Manifest& to,
                       std::int64_t version) {
    ManifestResponse r;
    r.status = 200;
    r.body = serialise(manifest_changes(from, to, from_etag));
    r.etag = manifest_etag(to);
    r.is_delta = true;
    r.version = std::to_string(version);
    return r;
}

ManifestResponse not_modified() {
    ManifestResponse r;
    r.status = 304;
    return r;
}

ManifestResponse failure(std::string error, bool auth_failed = false) {
    ManifestResponse r;
    r.error = std::move(error);
    r.auth_failed = auth_failed;
    return r;
}

struct LogLine {
    std::string level, text;
};

// A follower of `local_dir` with its state beside it, its status and log kept for the test.
struct Harness {
    explicit Harness(bool graceful = false, SourceFollower::RunRound round = {}) {
        source.url = "http://primary.test/.docsync/conf";
        source.local_dir = dir / "copy";
        source.restart_graceful = graceful;
        options.long_poll = 25s;
        options.version_state_path = dir / "version";
        options.httpd_binary = "/usr/sbin/httpd";
        make_follower(std::move(round));
    }
    // A new follower of the same source, as after a restart of the sync process.
    void make_follower(SourceFollower::RunRound round = {}) {
        follower = std::make_unique<SourceFollower>(
            source, options, primary, clock,
            [this](const std::function<void(SourceStatus&)>& f) { f(status); },
            [this](const char* level, const std::string& line) {
                log.push_back({level, line});
            },
            [this](const std::string&, std::string* out) {
                ++checks;
                *out = check_output;
                return check_passes;
            },
            StageSwap(), std::move(round));
    }
    std::size_t logged(const std::string& part) const {
        return std::count_if(log.begin(), log.end(), [&](const LogLine& l) {
            return l.text.find(part) != std::string::npos;
        });
    }

    TempDir dir;
    SourceOptions source;
    FollowerOptions options;
    SimClock clock;
    ScriptedPrimary primary{clock};
    SourceStatus status;
    std::vector<LogLine> log;
    int checks = 0;
    bool check_passes = true;
    std::string check_output = "AH00526: Syntax error";
    std::unique_ptr<SourceFollower> follower;
};

const Manifest kFirst = dirs({"a", "b"});
const Manifest kSecond = dirs({"a", "b", "c"});

}  // namespace

TEST_CASE("a failed manifest request waits 1, 2, 4 ... 30 s, and a good answer resets the wait") {
    Harness h;
    for (int i = 0; i < 8; ++i) h.primary.answers.push_back(failure("Connection refused"));
    h.primary.answers.push_back(not_modified());
    h.primary.answers.push_back(failure("Connection refused"));
    for (int i = 0; i < 8; ++i) CHECK(h.follower->step() == FollowStep::kPollFailed);
    std::vector<std::chrono::steady_clock::duration> expected = {1s,  2s,  4s,  8s,
                                                                 16s, 30s, 30s, 30s};
    CHECK(h.clock.slept == expected);
    CHECK(h.status.result == "error");
    CHECK(h.status.failures_error == 8);
    // The same error is one log line and one event, however often it recurs.
    CHECK(h.logged("Connection refused") == 1);
    CHECK(parse_sync_events(h.status.events).size() == 1);

    CHECK(h.follower->step() == FollowStep::kNotModified);
    CHECK(h.follower->backoff() == kMinBackoff);
    h.clock.slept.clear();
    CHECK(h.follower->step() == FollowStep::kPollFailed);
    CHECK(h.clock.slept.front() == 1s);
    // A good answer in between does not make the same error worth a second line.
    CHECK(h.logged("Connection refused") == 1);
}

TEST_CASE("an answer that fails its authentication shows as auth-failed") {
    Harness h;
    h.primary.answers.push_back(failure(std::string(kAuthFailedError) + ": bad tag", true));
    h.primary.answers.push_back(failure("HTTP 500 from primary"));
    CHECK(h.follower->step() == FollowStep::kPollFailed);
    CHECK(h.status.result == "auth-failed");
    CHECK(h.status.failures_auth_failed == 1);
    CHECK(h.follower->step() == FollowStep::kPollFailed);
    CHECK(h.status.result == "error");
    CHECK(h.logged("HTTP 500") == 1);
    CHECK(parse_sync_events(h.status.events).size() == 2);
}

TEST_CASE(
    "not-modified answers come at most once a second, even from a primary that does not "
    "wait") {
    Harness h;
    for (int i = 0; i < 3; ++i) h.primary.answers.push_back(not_modified());
    CHECK(h.follower->step() == FollowStep::kNotModified);
    REQUIRE(h.clock.slept.size() == 1);
    CHECK(h.clock.slept[0] == kMinPollInterval);

    h.primary.answer_delay = 300ms;  // the answer itself took part of the second
    CHECK(h.follower->step() == FollowStep::kNotModified);
    REQUIRE(h.clock.slept.size() == 2);
    CHECK(h.clock.slept[1] == 700ms);

    h.primary.answer_delay = 25s;  // a long poll that ran its course: ask again at once
    CHECK(h.follower->step() == FollowStep::kNotModified);
    CHECK(h.clock.slept.size() == 2);
    CHECK(h.status.polls == 3);
}

TEST_CASE("a full manifest is applied by a round; then the follower long-polls with its ETag") {
    Harness h;
    h.primary.answers.push_back(full(kFirst, 100));
    h.primary.answers.push_back(not_modified());
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(exists(h.source.local_dir + "/a"));
    CHECK(exists(h.source.local_dir + "/b"));
    CHECK(h.status.result == "ok");
    CHECK(h.status.rounds == 1);
    CHECK(h.status.remote_etag == manifest_etag(kFirst));
    CHECK(h.status.last_bytes == ScriptedPrimary::kManifestBytes);
    CHECK(h.follower->applied_etag() == manifest_etag(kFirst));
    CHECK(h.clock.slept.empty());  // a complete round: straight back to the long poll

    h.primary.answer_delay = 25s;  // the long poll ran its course
    CHECK(h.follower->step() == FollowStep::kNotModified);
    REQUIRE(h.primary.asks.size() == 2);
    CHECK(h.primary.asks[0].known_etag.empty());
    CHECK(h.primary.asks[0].wait == 25s);
    CHECK(h.primary.asks[1].known_etag == manifest_etag(kFirst));
    CHECK(h.primary.asks[1].wait == 25s);
    CHECK(h.status.behind_since_unix == 0);
    CHECK(h.status.in_sync_unix == SimClock::kStartUnix + 25);  // the 304 confirmed it
}

TEST_CASE("a delta manifest applies to the manifest held") {
    Harness h;
    h.primary.answers.push_back(full(kFirst, 100));
    h.primary.answers.push_back(delta(kFirst, manifest_etag(kFirst), kSecond, 101));
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(exists(h.source.local_dir + "/c"));
    CHECK(h.follower->held_etag() == manifest_etag(kSecond));
    CHECK(h.status.rounds == 2);
}

TEST_CASE(
    "a manifest that does not verify is rejected, and the next request asks for a full "
    "one") {
    Harness h;
    h.primary.answers.push_back(full(kFirst, 100));
    SECTION("a delta against another base") {
        h.primary.answers.push_back(delta(kSecond, manifest_etag(kSecond), kFirst, 101));
        CHECK(h.follower->step() == FollowStep::kRound);
        CHECK(h.follower->step() == FollowStep::kManifestRejected);
        CHECK(h.status.last_error == "rejected manifest: delta against an unknown base");
    }
    SECTION("a delta before any full manifest") {
        h.primary.answers.front() = delta(kFirst, manifest_etag(kFirst), kSecond, 101);
        CHECK(h.follower->step() == FollowStep::kManifestRejected);
        CHECK(h.status.last_error == "rejected manifest: delta against an unknown base");
    }
    SECTION("a manifest that does not match its ETag") {
        ManifestResponse wrong = full(kSecond, 101);
        wrong.etag = std::string(64, '0');
        h.primary.answers.push_back(wrong);
        CHECK(h.follower->step() == FollowStep::kRound);
        CHECK(h.follower->step() == FollowStep::kManifestRejected);
        CHECK(h.status.last_error == "rejected manifest: manifest does not match its ETag");
    }
    SECTION("an answer without a version") {
        ManifestResponse unversioned = full(kSecond, 101);
        unversioned.version.clear();
        h.primary.answers.push_back(unversioned);
        CHECK(h.follower->step() == FollowStep::kRound);
        CHECK(h.follower->step() == FollowStep::kManifestRejected);
        CHECK(h.status.last_error == "rejected manifest: answer without a manifest version");
    }
    CHECK(h.status.result == "error");
    CHECK(h.logged("rejected manifest") == 1);
    CHECK(h.follower->held_etag().empty());
    CHECK(h.clock.slept.back() == kMinBackoff);
    h.primary.answers.push_back(not_modified());
    h.follower->step();
    CHECK(h.primary.asks.back().known_etag.empty());
}

TEST_CASE("answers older than the accepted version are refused; the log says so once a minute") {
    Harness h;
    h.primary.answers.push_back(full(kSecond, 200));
    CHECK(h.follower->step() == FollowStep::kRound);
    const std::uint64_t rounds = h.status.rounds;
    h.primary.answer_delay = 10s;
    // 10 s per answer plus the 100 ms retry: the minute passes on the 7th stale answer.
    for (int i = 0; i < 13; ++i) {
        h.primary.answers.push_back(full(kFirst, 100));
        CHECK(h.follower->step() == FollowStep::kStaleAnswer);
        CHECK(h.clock.slept.back() == kStaleAnswerRetry);
        INFO("stale answer " << i);
        CHECK(h.logged("refusing manifests older than version 200") == (i < 6    ? 0u
                                                                        : i < 12 ? 1u
                                                                                 : 2u));
    }
    CHECK(h.status.result == "stale-version");
    CHECK(h.status.failures_stale_version == 2);
    CHECK(h.status.rounds == rounds);
    CHECK(exists(h.source.local_dir + "/c"));  // kSecond's tree stays

    // A newer version is taken again at once.
    h.primary.answers.push_back(full(dirs({"a"}), 201));
    CHECK(h.follower->step() == FollowStep::kRound);
}

TEST_CASE("the accepted version survives a restart of the sync process") {
    TempDir state;
    {
        Harness h;
        h.options.version_state_path = state / "version";
        h.make_follower();
        h.primary.answers.push_back(full(kSecond, 200));
        CHECK(h.follower->step() == FollowStep::kRound);
    }
    Harness h;
    h.options.version_state_path = state / "version";
    h.make_follower();
    h.primary.answers.push_back(full(kFirst, 100));
    CHECK(h.follower->step() == FollowStep::kStaleAnswer);
}

TEST_CASE("a configuration the check rejects is not tried again until the primary changes") {
    Harness h(/*graceful=*/true);
    h.check_passes = false;
    h.primary.answers.push_back(full(kFirst, 100));
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(h.checks == 1);
    CHECK(h.status.result == "config-rejected");
    CHECK(h.status.config_check_output == "AH00526: Syntax error");
    CHECK(h.status.failures_config_rejected == 1);
    CHECK(h.logged("rejected by /usr/sbin/httpd -t, not applied: AH00526") == 1);
    CHECK(h.clock.slept.empty());  // no retry of its own: it waits for the next manifest
    CHECK(h.follower->applied_etag().empty());

    // The same manifest again (a 304, or a 200 from another child): no second check.
    h.primary.answers.push_back(not_modified());
    h.primary.answers.push_back(full(kFirst, 100));
    CHECK(h.follower->step() == FollowStep::kNotModified);
    CHECK(h.primary.asks.back().wait == 25s);
    CHECK(h.follower->step() == FollowStep::kAlreadyRejected);
    CHECK(h.checks == 1);

    h.check_passes = true;
    h.primary.answers.push_back(full(kSecond, 101));
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(h.checks == 2);
    CHECK(h.status.result == "ok");
    CHECK(h.status.restart_pending);
    CHECK(h.status.restarts_triggered == 1);
    CHECK(h.logged("new configuration applied from") == 1);
    CHECK(exists(h.source.local_dir + "/c"));
}

Manifest with_page(const Manifest& base, const char* path) {
    Manifest m = base;
    Entry f;
    f.size = 5;
    f.sha256 = std::string(64, 'a');
    m[path] = f;
    return m;
}

TEST_CASE("an incomplete round is run again with the same manifest a second later") {
    Harness h;
    const Manifest with_file = with_page(kFirst, "a/page.html");
    h.primary.files_error = std::string(kAuthFailedError) + ": frame tag";
    h.primary.answers.push_back(full(with_file, 100));
    h.primary.answers.push_back(not_modified());
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(h.primary.file_requests == 1);
    CHECK(h.status.result == "auth-failed");
    CHECK(h.logged("round incomplete") == 1);
    CHECK(h.clock.slept.empty());
    // The retry asks for a change for up to a second; this primary answers "not modified" at
    // once (as one with DocSyncLongPoll 0 does): the same manifest runs again, a second after
    // the incomplete round and not sooner.
    const auto round_ended = h.clock.since_start();
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(h.primary.asks.back().wait == kMinBackoff);
    CHECK(h.primary.asks.back().known_etag == manifest_etag(with_file));
    CHECK(h.clock.since_start() - round_ended == kMinBackoff);
    CHECK(h.primary.file_requests == 2);
    CHECK(h.status.rounds == 2);
    CHECK(h.follower->applied_etag().empty());
    // A primary that waited the second out: no pause of the follower's own on top.
    h.primary.answers.push_back(not_modified());
    h.primary.answer_delay = kMinBackoff;
    const auto slept = h.clock.slept.size();
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(h.clock.slept.size() == slept);
    CHECK(h.primary.file_requests == 3);
}

TEST_CASE(
    "a file that vanished on the primary during a round: the manifest without it is applied at "
    "once") {
    Harness h;
    // The round's manifest names an editor's temp file that the primary renamed before the
    // round asked for it; the primary's next manifest, announced while the retry waits, has the
    // file under its final name instead.
    const Manifest with_temp = with_page(kFirst, "a/.page.html.tmp");
    h.primary.answers.push_back(full(with_temp, 100));
    h.primary.answers.push_back(delta(with_temp, manifest_etag(with_temp), kSecond, 101));
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(h.status.result == "error");
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(h.primary.asks.back().wait == kMinBackoff);
    CHECK(h.clock.slept.empty());  // no second lost
    CHECK(h.follower->applied_etag() == manifest_etag(kSecond));
    CHECK(h.status.result == "ok");
    CHECK(exists(h.source.local_dir + "/c"));
}

TEST_CASE("a round over a limit waits for the next manifest; one short of space is retried") {
    RoundResult outcome;
    int rounds = 0;
    Harness h(false, [&](const Manifest&, HashCache&) {
        ++rounds;
        return outcome;
    });
    outcome.complete = false;
    outcome.limit_exceeded = "max-delete=10 exceeded: 50 deletions";
    h.primary.answers.push_back(full(kFirst, 100));
    h.primary.answers.push_back(full(kFirst, 100));
    CHECK(h.follower->step() == FollowStep::kRoundRefused);
    CHECK(h.status.result == "refused");
    CHECK(h.status.last_error == "nothing applied: max-delete=10 exceeded: 50 deletions");
    CHECK(h.status.rounds == 0);
    CHECK(h.clock.slept.empty());
    CHECK(h.follower->step() == FollowStep::kAlreadyRejected);
    CHECK(rounds == 1);

    outcome.limit_exceeded = "free space: 10 MiB left";
    outcome.limit_transient = true;
    h.primary.answers.push_back(full(kSecond, 101));
    h.primary.answers.push_back(not_modified());
    h.primary.answers.push_back(not_modified());
    CHECK(h.follower->step() == FollowStep::kRoundRefused);
    CHECK(h.clock.slept.back() == kMaxBackoff);
    CHECK(h.follower->step() == FollowStep::kRoundRefused);
    CHECK(h.primary.asks.back().wait == kMinBackoff);  // a change would end it at once
    CHECK(rounds == 3);
    // One log line per distinct reason.
    CHECK(h.logged("max-delete=10") == 1);
    CHECK(h.logged("free space") == 1);
    CHECK(h.status.failures_refused == 3);

    // Space again: the same manifest is applied.
    outcome = RoundResult();
    outcome.changed = true;
    CHECK(h.follower->step() == FollowStep::kRound);
    CHECK(h.follower->applied_etag() == manifest_etag(kSecond));
    CHECK(h.status.result == "ok");
}

TEST_CASE(
    "a delta on top of the applied manifest is applied by path; once a minute a round "
    "scans the whole copy") {
    Harness h;
    const Manifest third = dirs({"a", "b", "c", "d"});
    const Manifest fourth = dirs({"a", "b", "c", "d", "e"});
    h.primary.answers.push_back(full(kFirst, 10));
    REQUIRE(h.follower->step() == FollowStep::kRound);
    REQUIRE(h.follower->applied_etag() == manifest_etag(kFirst));
    // A local directory the primary does not have: only a round that scans the copy sees it.
    REQUIRE(::mkdir((h.source.local_dir + "/local-only").c_str(), 0755) == 0);
    h.primary.answers.push_back(delta(kFirst, manifest_etag(kFirst), kSecond, 11));
    REQUIRE(h.follower->step() == FollowStep::kRound);
    CHECK(docsync_test::exists(h.source.local_dir + "/c"));
    CHECK(docsync_test::exists(h.source.local_dir + "/local-only"));  // not named, not seen
    h.clock.advance(kFullRoundInterval);
    h.primary.answers.push_back(delta(kSecond, manifest_etag(kSecond), third, 12));
    REQUIRE(h.follower->step() == FollowStep::kRound);
    CHECK(docsync_test::exists(h.source.local_dir + "/d"));
    CHECK_FALSE(docsync_test::exists(h.source.local_dir + "/local-only"));  // the full round
    // A full manifest is applied with a full scan too.
    REQUIRE(::mkdir((h.source.local_dir + "/local-again").c_str(), 0755) == 0);
    h.primary.answers.push_back(full(fourth, 13));
    REQUIRE(h.follower->step() == FollowStep::kRound);
    CHECK_FALSE(docsync_test::exists(h.source.local_dir + "/local-again"));
    CHECK(docsync_test::exists(h.source.local_dir + "/e"));
}
