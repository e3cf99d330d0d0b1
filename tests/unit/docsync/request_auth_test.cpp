#include "request_auth.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "crypto.h"
#include "test_support.h"

using namespace docsync;

namespace {
struct FakeClock : WallClock {
    std::int64_t now = 1'700'000'000;
    std::int64_t now_seconds() const override { return now; }
};
const std::string kSecret = "0123456789abcdef-shared-secret";
}  // namespace

TEST_CASE("a correctly signed fresh request is accepted once") {
    FakeClock clock;
    RequestVerifier v(kSecret, clock);
    auto h = sign_request(kSecret, "GET", "/.docsync/conf/manifest?wait=10", clock);
    CHECK(v.verify("GET", "/.docsync/conf/manifest?wait=10", h.time.c_str(), h.nonce.c_str(),
                   h.signature.c_str()) == AuthResult::kOk);
    CHECK(v.verify("GET", "/.docsync/conf/manifest?wait=10", h.time.c_str(), h.nonce.c_str(),
                   h.signature.c_str()) == AuthResult::kReplayed);
}

TEST_CASE("unsigned, tampered, stale and malformed requests are refused") {
    FakeClock clock;
    RequestVerifier v(kSecret, clock, std::chrono::seconds(60));
    const std::string path = "/.docsync/conf/delta?p=httpd.conf";
    auto h = sign_request(kSecret, "POST", path, clock);
    CHECK(v.verify("POST", path, nullptr, nullptr, nullptr) == AuthResult::kMissing);
    CHECK(v.verify("POST", path, h.time.c_str(), h.nonce.c_str(), nullptr) == AuthResult::kMissing);
    CHECK(v.verify("GET", path, h.time.c_str(), h.nonce.c_str(), h.signature.c_str()) ==
          AuthResult::kBadSignature);
    CHECK(v.verify("POST", path + "x", h.time.c_str(), h.nonce.c_str(), h.signature.c_str()) ==
          AuthResult::kBadSignature);
    auto other = sign_request("another-secret-of-16+", "POST", path, clock);
    CHECK(v.verify("POST", path, other.time.c_str(), other.nonce.c_str(),
                   other.signature.c_str()) == AuthResult::kBadSignature);
    std::string later = std::to_string(clock.now + 1);
    CHECK(v.verify("POST", path, later.c_str(), h.nonce.c_str(), h.signature.c_str()) ==
          AuthResult::kBadSignature);
    CHECK(v.verify("POST", path, "12x", h.nonce.c_str(), h.signature.c_str()) ==
          AuthResult::kMalformed);
    CHECK(v.verify("POST", path, h.time.c_str(), "short", h.signature.c_str()) ==
          AuthResult::kMalformed);
    std::string upper = h.signature;
    for (auto& c : upper) c = static_cast<char>(toupper(c));
    CHECK(v.verify("POST", path, h.time.c_str(), h.nonce.c_str(), upper.c_str()) ==
          AuthResult::kMalformed);

    FakeClock past = clock;
    past.now -= 61;
    auto old = sign_request(kSecret, "POST", path, past);
    CHECK(v.verify("POST", path, old.time.c_str(), old.nonce.c_str(), old.signature.c_str()) ==
          AuthResult::kStale);
    FakeClock future = clock;
    future.now += 61;
    auto ahead = sign_request(kSecret, "POST", path, future);
    CHECK(v.verify("POST", path, ahead.time.c_str(), ahead.nonce.c_str(),
                   ahead.signature.c_str()) == AuthResult::kStale);
    CHECK(v.verify("POST", path, h.time.c_str(), h.nonce.c_str(), h.signature.c_str()) ==
          AuthResult::kOk);
}

TEST_CASE("nonces are forgotten only after their timestamps can no longer be accepted") {
    FakeClock clock;
    RequestVerifier v(kSecret, clock, std::chrono::seconds(60));
    auto h = sign_request(kSecret, "GET", "/x", clock);
    REQUIRE(v.verify("GET", "/x", h.time.c_str(), h.nonce.c_str(), h.signature.c_str()) ==
            AuthResult::kOk);
    clock.now += 59;
    CHECK(v.verify("GET", "/x", h.time.c_str(), h.nonce.c_str(), h.signature.c_str()) ==
          AuthResult::kReplayed);
    clock.now += 100;
    CHECK(v.verify("GET", "/x", h.time.c_str(), h.nonce.c_str(), h.signature.c_str()) ==
          AuthResult::kStale);
}

TEST_CASE("a secret file readable by others is refused") {
    docsync_test::TempDir dir;
    std::string path = dir / "secret";
    docsync_test::write_file(path, "a-long-enough-secret-value\n");
    chmod(path.c_str(), 0644);
    std::string error;
    CHECK(load_secret_file(path, &error).empty());
    CHECK(error.find("others") != std::string::npos);
    chmod(path.c_str(), 0600);
    error.clear();
    CHECK(load_secret_file(path, &error) == "a-long-enough-secret-value");
    docsync_test::write_file(path, "short");
    CHECK(load_secret_file(path, &error).empty());
    CHECK(load_secret_file(dir / "missing", &error).empty());
}

TEST_CASE("the shared nonce table refuses replays and forgets only expired nonces") {
    // 100 live nonces in 512 slots: a probe chain longer than kMaxNonceProbes is practically
    // impossible at this load, so "full" below can only come from a really full table.
    constexpr std::size_t kCapacity = 512;
    std::vector<unsigned char> memory(NonceTable::bytes_needed(kCapacity));
    NonceTable* t = NonceTable::create(memory.data(), kCapacity);
    REQUIRE(NonceTable::attach(memory.data(), memory.size()) == t);
    CHECK_FALSE(NonceTable::attach(memory.data(), 8));
    std::vector<std::string> nonces;
    for (int i = 0; i < 100; ++i) nonces.push_back(random_hex(kNonceBytes));
    for (const auto& n : nonces) REQUIRE(t->remember(n, 1000, 880) == NonceResult::kFresh);
    for (const auto& n : nonces) CHECK(t->remember(n, 1000, 880) == NonceResult::kReplayed);
    // Once their time has passed, the slots are reused and the table never fills up.
    for (int round = 0; round < 20; ++round)
        for (int i = 0; i < 100; ++i)
            REQUIRE(t->remember(random_hex(kNonceBytes), 2000 + round, 2000 + round) ==
                    NonceResult::kFresh);
    // A full table refuses rather than forgetting live nonces.
    std::size_t full = 0;
    for (int i = 0; i < 2000; ++i)
        full += t->remember(random_hex(kNonceBytes), 5000, 4900) == NonceResult::kFull;
    CHECK(full > 0);
}

TEST_CASE("a verifier with a shared nonce table refuses a replay seen by another verifier") {
    constexpr std::size_t kCapacity = 1024;
    std::vector<unsigned char> memory(NonceTable::bytes_needed(kCapacity));
    NonceTable* table = NonceTable::create(memory.data(), kCapacity);
    struct Shared : SharedNonces {
        NonceTable* t;
        NonceResult remember(std::string_view n, std::int64_t now, std::int64_t h) override {
            return t->remember(n, now, h);
        }
    } shared;
    shared.t = table;
    FakeClock clock;
    RequestVerifier child_a(kSecret, clock, std::chrono::seconds(60), &shared);
    RequestVerifier child_b(kSecret, clock, std::chrono::seconds(60), &shared);
    auto h = sign_request(kSecret, "GET", "/m", clock);
    CHECK(child_a.verify("GET", "/m", h.time.c_str(), h.nonce.c_str(), h.signature.c_str()) ==
          AuthResult::kOk);
    CHECK(child_b.verify("GET", "/m", h.time.c_str(), h.nonce.c_str(), h.signature.c_str()) ==
          AuthResult::kReplayed);
}
