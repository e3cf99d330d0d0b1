#include "batch_stream.h"

#include <catch2/catch.hpp>
#include <random>

#include "crypto.h"
#include "test_support.h"

using namespace docsync;

namespace {
struct Collect : BatchSink {
    std::vector<std::string> files;
    std::vector<std::size_t> missing;
    std::vector<std::size_t> indices;
    bool begin(std::size_t index, std::uint64_t) override {
        indices.push_back(index);
        files.emplace_back();
        return true;
    }
    bool data(const char* p, std::size_t n) override {
        files.back().append(p, n);
        return true;
    }
    bool end() override { return true; }
    void unavailable(std::size_t i, const std::string&) override { missing.push_back(i); }
};

ExpectedFile expect(const std::string& content) {
    return {content.size(), sha256_hex(content)};
}

// Feeds frames ({headers, content}) to the decoder as an authenticated frame sink would.
bool feed_frames(BatchDecoder& d, const std::vector<std::pair<std::string, std::string>>& frames,
                 std::size_t chunk) {
    for (std::size_t f = 0; f < frames.size(); ++f) {
        if (!d.frame(frames[f].first, frames[f].second.size(), f + 1 == frames.size()))
            return false;
        const std::string& raw = frames[f].second;
        for (std::size_t i = 0; i < raw.size(); i += chunk)
            if (!d.raw(raw.data() + i, std::min(chunk, raw.size() - i))) return false;
    }
    return true;
}
}  // namespace

TEST_CASE("batch headers and content decode whatever way the content is split") {
    std::vector<std::pair<std::string, std::string>> frames = {
        {file_header(5, sha256_hex("hello")) + error_header("gone\nreally"), "hello"},
        {file_header(0, sha256_hex("")) + file_header(3, sha256_hex("abc")), "abc"}};
    for (std::size_t chunk : {1u, 2u, 3u, 7u, 1000u}) {
        Collect c;
        BatchDecoder d({expect("hello"), expect("x"), expect(""), expect("abc")}, c);
        REQUIRE(feed_frames(d, frames, chunk));
        CHECK(d.finished());
        CHECK(c.files == std::vector<std::string>{"hello", "", "abc"});
        CHECK(c.missing == std::vector<std::size_t>{1});
    }
}

TEST_CASE("a header whose hash is not the manifest's is skipped, a wrong size is refused") {
    Collect c;
    BatchDecoder d({expect("new"), expect("abc")}, c);
    REQUIRE(feed_frames(
        d, {{file_header(3, sha256_hex("old")) + file_header(3, sha256_hex("abc")), "oldabc"}}, 2));
    CHECK(d.finished());
    CHECK(c.files == std::vector<std::string>{"abc"});
    CHECK(c.missing == std::vector<std::size_t>{0});

    Collect c2;
    BatchDecoder d2({expect("abcd")}, c2);
    CHECK_FALSE(feed_frames(d2, {{file_header(5, sha256_hex("abcd")), "abcde"}}, 10));
    CHECK(c2.files.empty());
}

TEST_CASE("extra files, missing files, or content beyond the headers are refused") {
    Collect c;
    BatchDecoder d({expect("x")}, c);
    CHECK_FALSE(feed_frames(
        d, {{file_header(1, sha256_hex("x")) + file_header(1, sha256_hex("y")), "xy"}}, 1));
    Collect c2;
    BatchDecoder d2({expect("x"), expect("y")}, c2);
    CHECK_FALSE(feed_frames(d2, {{file_header(1, sha256_hex("x")), "x"}}, 1));  // ends early
    CHECK_FALSE(d2.finished());
    Collect c3;
    BatchDecoder d3({expect("x")}, c3);
    CHECK_FALSE(d3.frame(file_header(1, sha256_hex("x")), 2, true));  // raw length disagrees
}

TEST_CASE("fuzz: random headers never crash the batch decoder nor exceed announced sizes") {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 5000; ++i) {
        Collect c;
        std::vector<ExpectedFile> expected;
        for (int k = 0; k < 3; ++k)
            expected.push_back(expect(docsync_test::random_bytes(rng, rng() % 50)));
        BatchDecoder d(expected, c);
        std::string junk = (i % 2 ? file_header(rng() % 60, expected[0].sha256) : "") +
                           docsync_test::random_bytes(rng, rng() % 200);
        std::string raw = docsync_test::random_bytes(rng, rng() % 200);
        if (d.frame(junk, raw.size(), rng() % 2)) d.raw(raw.data(), raw.size());
        REQUIRE(c.files.size() <= expected.size());
        for (std::size_t k = 0; k < c.files.size(); ++k)
            REQUIRE(c.files[k].size() <= expected[c.indices[k]].size);
    }
}
