#include "batch_stream.h"

#include <catch2/catch.hpp>
#include <random>

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
}  // namespace

TEST_CASE("batch frames decode whatever way the stream is split") {
    std::string stream = frame_header(5) + "hello" + error_frame("gone\nreally") + frame_header(0) +
                         frame_header(3) + "abc";
    for (std::size_t chunk : {1u, 2u, 3u, 7u, 1000u}) {
        Collect c;
        BatchDecoder d({5, 10, 0, 3}, c);
        for (std::size_t i = 0; i < stream.size(); i += chunk)
            REQUIRE(d.feed(stream.data() + i, std::min(chunk, stream.size() - i)));
        CHECK(d.finished());
        CHECK(c.files == std::vector<std::string>{"hello", "", "abc"});
        CHECK(c.missing == std::vector<std::size_t>{1});
    }
}

TEST_CASE("a frame larger than the manifest size or an extra frame is refused") {
    Collect c;
    BatchDecoder d({4}, c);
    std::string s = frame_header(5) + "hello";
    CHECK_FALSE(d.feed(s.data(), s.size()));
    Collect c2;
    BatchDecoder d2({1}, c2);
    std::string s2 = frame_header(1) + "x" + frame_header(1) + "y";
    CHECK_FALSE(d2.feed(s2.data(), s2.size()));
    Collect c3;
    BatchDecoder d3({1}, c3);
    std::string s3(kMaxFrameHeaderBytes + 10, '1');
    CHECK_FALSE(d3.feed(s3.data(), s3.size()));
}

TEST_CASE("fuzz: random bytes never crash the batch decoder nor exceed announced sizes") {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 5000; ++i) {
        Collect c;
        std::vector<std::uint64_t> sizes{rng() % 50, rng() % 50, rng() % 50};
        BatchDecoder d(sizes, c);
        std::string junk = (i % 2 ? "F " + std::to_string(rng() % 60) + "\n" : "") +
                           docsync_test::random_bytes(rng, rng() % 200);
        d.feed(junk.data(), junk.size());
        REQUIRE(c.files.size() <= sizes.size());
        for (std::size_t k = 0; k < c.files.size(); ++k)
            REQUIRE(c.files[k].size() <= sizes[c.indices[k]]);
    }
}
