// Answers of the primary: tags bound to the request, authenticated frame streams, both key
// modes. Every tampering must be refused before the reader parses anything of it.
#include "answer_auth.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "answer_stream.h"
#include "crypto.h"
#include "test_support.h"

using namespace docsync;
using docsync_test::TempDir;
using docsync_test::write_file;

namespace {

const std::string kSecret = "answer-test-secret-0123456789";
const std::string kPrivate(32, 'k');  // any 32 bytes are an Ed25519 private key (RFC 8032)
const std::string kOtherPrivate(32, 'o');

AnswerFacts manifest_facts(const std::string& body) {
    AnswerFacts f;
    f.nonce = std::string(32, 'a');
    f.method = "GET";
    f.path = "/.docsync/docs/manifest?wait=25";
    f.status = 200;
    f.etag = std::string(64, 'e');
    f.version = "1796216747685181823";
    f.manifest_kind = "full";
    f.content_type = "text/plain; charset=us-ascii";
    f.body = whole_body(body);
    return f;
}

struct Recorder : FrameSink {
    std::vector<std::string> auth;
    std::string raw_bytes;
    bool frame(std::string_view a, std::uint64_t, bool) override {
        auth.emplace_back(a);
        return true;
    }
    bool raw(const char* p, std::size_t n) override {
        raw_bytes.append(p, n);
        return true;
    }
};

// A stream of `frames` ({authenticated, raw}) as the primary sends it; each frame's bytes
// separately so tests can drop, reorder or alter them.
std::vector<std::string> make_frames(const AnswerSigner& signer, const std::string& nonce,
                                     const std::string& answer_tag,
                                     const std::vector<std::pair<std::string, std::string>>& in) {
    std::vector<std::string> out;
    std::string* current = nullptr;
    FrameWriter w(signer, nonce, answer_tag, [&](const char* p, std::size_t n) {
        current->append(p, n);
        return true;
    });
    for (std::size_t i = 0; i < in.size(); ++i) {
        out.emplace_back();
        current = &out.back();
        REQUIRE(w.frame(in[i].first, in[i].second.size(), i + 1 == in.size()));
        REQUIRE(w.raw(in[i].second.data(), in[i].second.size()));
    }
    return out;
}

std::string join(const std::vector<std::string>& parts) {
    std::string s;
    for (const auto& p : parts) s += p;
    return s;
}

const std::vector<std::pair<std::string, std::string>> kFrames = {
    {"F 3 header-one\n", "abc"}, {"data two", ""}, {"F 2 header-three\n", "de"}};

}  // namespace

TEST_CASE("an answer tag covers nonce, request, status, headers and body") {
    auto signer = hmac_answer_signer(kSecret);
    auto verifier = hmac_answer_verifier(kSecret);
    const std::string body = "DSM1 0\n";
    AnswerFacts f = manifest_facts(body);
    std::string tag = signer->tag(answer_message(f));
    CHECK(verifier->check(answer_message(f), tag));

    auto altered = [&](auto change) {
        AnswerFacts g = f;
        change(g);
        return verifier->check(answer_message(g), tag);
    };
    CHECK_FALSE(altered([](AnswerFacts& g) { g.nonce = std::string(32, 'b'); }));
    CHECK_FALSE(altered([](AnswerFacts& g) { g.method = "POST"; }));
    CHECK_FALSE(altered([](AnswerFacts& g) { g.path = "/.docsync/other/manifest?wait=25"; }));
    CHECK_FALSE(altered([](AnswerFacts& g) { g.status = 304; }));
    CHECK_FALSE(altered([](AnswerFacts& g) { g.etag[0] = 'f'; }));
    CHECK_FALSE(altered([](AnswerFacts& g) { g.version = "1"; }));
    CHECK_FALSE(altered([](AnswerFacts& g) { g.manifest_kind = "delta"; }));
    CHECK_FALSE(altered([](AnswerFacts& g) { g.content_type = "text/html"; }));
    CHECK_FALSE(altered([&](AnswerFacts& g) { g.body = whole_body("DSM1 1\n"); }));
    CHECK_FALSE(altered([](AnswerFacts& g) { g.body = "frames"; }));
    // Another key, and the request MAC of the same secret, are not answer tags.
    CHECK_FALSE(
        hmac_answer_verifier("another-secret-0123456789abc")->check(answer_message(f), tag));
    CHECK_FALSE(verifier->check(answer_message(f), hmac_sha256_hex(kSecret, answer_message(f))));
    CHECK_FALSE(verifier->check(answer_message(f), ""));
    CHECK_FALSE(verifier->check(answer_message(f), tag.substr(1)));
}

TEST_CASE("Ed25519: the public key checks, another public key or an HMAC tag does not") {
    auto signer = ed25519_answer_signer(kPrivate);
    REQUIRE(signer);
    auto verifier = ed25519_answer_verifier(ed25519_public_of(kPrivate));
    auto other = ed25519_answer_verifier(ed25519_public_of(kOtherPrivate));
    REQUIRE(verifier);
    REQUIRE(other);
    AnswerFacts f = manifest_facts("DSM1 0\n");
    std::string tag = signer->tag(answer_message(f));
    CHECK(tag.size() == 128);
    CHECK(verifier->check(answer_message(f), tag));
    CHECK_FALSE(other->check(answer_message(f), tag));
    f.status = 500;
    CHECK_FALSE(verifier->check(answer_message(f), tag));
    CHECK_FALSE(verifier->check(answer_message(f), hmac_answer_signer(kSecret)->tag("x")));
    CHECK_FALSE(ed25519_answer_signer("short"));
}

TEST_CASE("a frame stream round trips in both modes, however it is split") {
    auto hs = hmac_answer_signer(kSecret);
    auto hv = hmac_answer_verifier(kSecret);
    auto es = ed25519_answer_signer(kPrivate);
    auto ev = ed25519_answer_verifier(ed25519_public_of(kPrivate));
    for (auto [signer, verifier] :
         {std::pair<AnswerSigner*, AnswerVerifier*>{hs.get(), hv.get()}, {es.get(), ev.get()}}) {
        std::string stream = join(make_frames(*signer, "n1", "answer-tag", kFrames));
        for (std::size_t chunk : {1u, 5u, 64u, 100000u}) {
            Recorder rec;
            FrameReader reader(*verifier, "n1", "answer-tag", rec);
            for (std::size_t i = 0; i < stream.size(); i += chunk)
                REQUIRE(reader.feed(stream.data() + i, std::min(chunk, stream.size() - i)));
            CHECK(reader.finished());
            CHECK(rec.auth ==
                  std::vector<std::string>{kFrames[0].first, kFrames[1].first, kFrames[2].first});
            CHECK(rec.raw_bytes == "abcde");
        }
    }
}

TEST_CASE("tampered, reordered, truncated, foreign or extended streams are refused unparsed") {
    auto signer = hmac_answer_signer(kSecret);
    auto verifier = hmac_answer_verifier(kSecret);
    auto frames = make_frames(*signer, "n1", "answer-tag", kFrames);
    // Feeds `stream`; returns how many frames reached the reader and whether it was refused.
    auto run = [&](const std::string& stream, const AnswerVerifier& v, const std::string& nonce,
                   const std::string& answer_tag) {
        Recorder rec;
        FrameReader reader(v, nonce, answer_tag, rec);
        bool ok = reader.feed(stream.data(), stream.size()) && reader.finished();
        return std::make_tuple(rec.auth.size(), ok, reader.auth_failed());
    };
    const std::string good = join(frames);
    CHECK(run(good, *verifier, "n1", "answer-tag") == std::make_tuple(std::size_t{3}, true, false));

    SECTION("a byte of the authenticated part of frame 1 altered") {
        auto f = frames;
        f[1][f[1].find("data") + 1] ^= 1;
        CHECK(run(join(f), *verifier, "n1", "answer-tag") ==
              std::make_tuple(std::size_t{1}, false, true));
    }
    SECTION("a frame header altered (longer raw part)") {
        auto f = frames;
        f[0].replace(0, f[0].find('\n'), "M 15 4");
        CHECK(run(join(f), *verifier, "n1", "answer-tag") ==
              std::make_tuple(std::size_t{0}, false, true));
    }
    SECTION("the first frame's tag altered") {
        auto f = frames;
        std::size_t tag_at = f[0].find('\n', f[0].find("one\n") + 4) - 1;
        f[0][tag_at] = f[0][tag_at] == '0' ? '1' : '0';
        CHECK(std::get<0>(run(join(f), *verifier, "n1", "answer-tag")) == 0);
    }
    SECTION("frames reordered or one dropped") {
        CHECK(run(frames[1] + frames[0] + frames[2], *verifier, "n1", "answer-tag") ==
              std::make_tuple(std::size_t{0}, false, true));
        CHECK(run(frames[0] + frames[2], *verifier, "n1", "answer-tag") ==
              std::make_tuple(std::size_t{1}, false, true));
    }
    SECTION("truncated: without its last frame the stream is not finished") {
        CHECK(run(frames[0] + frames[1], *verifier, "n1", "answer-tag") ==
              std::make_tuple(std::size_t{2}, false, false));
        CHECK_FALSE(
            std::get<1>(run(good.substr(0, good.size() - 1), *verifier, "n1", "answer-tag")));
    }
    SECTION("bytes after the last frame") {
        CHECK_FALSE(std::get<1>(run(good + "x", *verifier, "n1", "answer-tag")));
    }
    SECTION("bound to another request's nonce or another answer") {
        CHECK(run(good, *verifier, "n2", "answer-tag") ==
              std::make_tuple(std::size_t{0}, false, true));
        CHECK(run(good, *verifier, "n1", "other-tag") ==
              std::make_tuple(std::size_t{0}, false, true));
    }
    SECTION("another key, or Ed25519 with a wrong public key") {
        CHECK(run(good, *hmac_answer_verifier("another-secret-0123456789abc"), "n1",
                  "answer-tag") == std::make_tuple(std::size_t{0}, false, true));
        auto es = ed25519_answer_signer(kPrivate);
        std::string signed_stream = join(make_frames(*es, "n1", "answer-tag", kFrames));
        auto wrong = ed25519_answer_verifier(ed25519_public_of(kOtherPrivate));
        CHECK(run(signed_stream, *wrong, "n1", "answer-tag") ==
              std::make_tuple(std::size_t{0}, false, true));
        auto right = ed25519_answer_verifier(ed25519_public_of(kPrivate));
        CHECK(std::get<1>(run(signed_stream, *right, "n1", "answer-tag")));
    }
    SECTION("an oversized or malformed frame header") {
        CHECK_FALSE(std::get<1>(run("M 99999999999 0\n", *verifier, "n1", "answer-tag")));
        CHECK_FALSE(std::get<1>(run("X 1 0\n", *verifier, "n1", "answer-tag")));
        CHECK_FALSE(std::get<1>(run(std::string(500, '1'), *verifier, "n1", "answer-tag")));
    }
}

TEST_CASE("a byte stream is cut into frames of bounded size with a last frame") {
    auto signer = hmac_answer_signer(kSecret);
    auto verifier = hmac_answer_verifier(kSecret);
    std::string data(kStreamFrameBytes * 2 + 17, 'z');
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>(i * 7);
    std::string wire, out;
    DataFrameSink sink([&](const char* p, std::size_t n) {
        out.append(p, n);
        return true;
    });
    FrameReader reader(*verifier, "n", "t", sink);
    FrameWriter writer(*signer, "n", "t", [&](const char* p, std::size_t n) {
        wire.append(p, n);
        return reader.feed(p, n);
    });
    FramedByteSink framed(writer, std::chrono::hours(1));  // frames by size only
    ByteSink in = framed.sink();
    for (std::size_t i = 0; i < data.size(); i += 1000)
        REQUIRE(in(data.data() + i, std::min<std::size_t>(1000, data.size() - i)));
    REQUIRE(framed.finish());
    CHECK(reader.finished());
    CHECK(out == data);
    CHECK(wire.rfind("Z 17 0\n") != std::string::npos);
}

TEST_CASE("data from a slow producer leaves at once, not when a frame is full") {
    auto signer = hmac_answer_signer(kSecret);
    auto verifier = hmac_answer_verifier(kSecret);
    std::vector<std::string> seen;
    Recorder rec;
    FrameReader reader(*verifier, "n", "t", rec);
    FrameWriter writer(*signer, "n", "t",
                       [&](const char* p, std::size_t n) { return reader.feed(p, n); });
    FramedByteSink framed(writer, std::chrono::milliseconds(0));
    ByteSink in = framed.sink();
    REQUIRE(in("copy", 4));
    CHECK(rec.auth == std::vector<std::string>{"copy"});  // received before the stream ends
    REQUIRE(in("more", 4));
    REQUIRE(framed.finish());
    CHECK(reader.finished());
    CHECK(rec.auth == std::vector<std::string>{"copy", "more", ""});
}

TEST_CASE("key files are checked: type, permissions, owner") {
    TempDir dir;
    // A PKCS#8 Ed25519 private key (RFC 8410 example) and its public key.
    const std::string priv =
        "-----BEGIN PRIVATE KEY-----\n"
        "MC4CAQAwBQYDK2VwBCIEINTuctv5E1hK1bbY8fdp+K06/nwoy/HU++CXqI9EdVhC\n"
        "-----END PRIVATE KEY-----\n";
    const std::string pub =
        "-----BEGIN PUBLIC KEY-----\n"
        "MCowBQYDK2VwAyEAGb9ECWmEzf6FQbrBZ9w7lshQhqowtrbLDFw4rXAxZuE=\n"
        "-----END PUBLIC KEY-----\n";
    write_file(dir / "priv.pem", priv);
    write_file(dir / "pub.pem", pub);
    chmod((dir / "priv.pem").c_str(), 0600);
    chmod((dir / "pub.pem").c_str(), 0644);
    std::string error;
    std::string raw_priv = load_ed25519_private_key_file(dir / "priv.pem", &error);
    REQUIRE(raw_priv.size() == 32);
    std::string raw_pub = load_ed25519_public_key_file(dir / "pub.pem", &error);
    REQUIRE(raw_pub.size() == 32);
    CHECK(ed25519_public_of(raw_priv) == raw_pub);

    chmod((dir / "priv.pem").c_str(), 0640);
    CHECK(load_ed25519_private_key_file(dir / "priv.pem", &error).empty());
    CHECK(error.find("group or others") != std::string::npos);
    chmod((dir / "pub.pem").c_str(), 0666);
    CHECK(load_ed25519_public_key_file(dir / "pub.pem", &error).empty());
    chmod((dir / "pub.pem").c_str(), 0600);
    CHECK(load_ed25519_private_key_file(dir / "pub.pem", &error).empty());  // not a private key
    CHECK(error.find("Ed25519 private key") != std::string::npos);
    CHECK(load_ed25519_public_key_file(dir / "missing.pem", &error).empty());
}
