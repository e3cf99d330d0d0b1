#include "rsync_delta.h"

#include <catch2/catch.hpp>
#include <random>

#include "test_support.h"

using namespace docsync;
using docsync_test::random_bytes;

namespace {

struct RoundTrip {
    std::string signature, delta, rebuilt;
    bool ok = false;
};

RoundTrip round_trip(const std::string& basis, const std::string& wanted) {
    RoundTrip r;
    r.signature = signature_of(basis);
    r.delta = delta_of(r.signature, wanted);
    r.ok = !r.signature.empty() && !r.delta.empty() &&
           patch_of(basis, r.delta, &r.rebuilt, wanted.size());
    return r;
}

std::uint32_t be32(const std::string& s, std::size_t off) {
    const auto* p = reinterpret_cast<const unsigned char*>(s.data() + off);
    return (std::uint32_t(p[0]) << 24) | (std::uint32_t(p[1]) << 16) | (std::uint32_t(p[2]) << 8) |
           p[3];
}

// The Rabin-Karp weak sum librsync's RS_RK_BLAKE2 signatures use, computed directly from its
// definition (seed 1, multiplier 0x08104225, modulo 2^32, over the bytes of one block).
std::uint32_t rabinkarp_direct(const unsigned char* p, std::size_t n) {
    std::uint32_t h = 1;
    for (std::size_t i = 0; i < n; ++i) h = h * 0x08104225u + p[i];
    return h;
}

// The same sum rolled one byte at a time, as a delta search does: drop the byte leaving the
// window, add the one entering it. Must agree with the direct computation at every offset.
struct RollingRabinKarp {
    std::uint32_t hash = 1, mult = 1;  // mult = MULT^window
    void add(unsigned char in) {
        hash = hash * 0x08104225u + in;
        mult *= 0x08104225u;
    }
    void rotate(unsigned char out, unsigned char in) {
        // h(w[1..n]) = h(w[0..n-1])*M + in - M^n * out - (M^n - M^(n-1)... folded into seed term)
        hash = hash * 0x08104225u + in - mult * (out + 0x08104225u - 1);
    }
};

}  // namespace

TEST_CASE("block length grows with the square root of the file size, within bounds") {
    CHECK(block_length_for(0) == kMinBlockBytes);
    CHECK(block_length_for(1000) == kMinBlockBytes);
    CHECK(block_length_for(64u << 20) == 8192);
    CHECK(block_length_for(1ull << 40) == kMaxBlockBytes);
}

TEST_CASE("weak sums in a librsync signature equal a direct recomputation per block") {
    std::mt19937_64 rng(1);
    std::string data = random_bytes(rng, 100'000 + 123);
    std::string sig = signature_of(data);
    REQUIRE(sig.size() > 12);
    REQUIRE(be32(sig, 0) == RS_RK_BLAKE2_SIG_MAGIC);
    std::uint32_t block = be32(sig, 4), strong = be32(sig, 8);
    REQUIRE(block == block_length_for(data.size()));
    std::size_t blocks = (data.size() + block - 1) / block;
    REQUIRE(sig.size() == 12 + blocks * (4 + strong));
    for (std::size_t b = 0; b < blocks; ++b) {
        std::size_t len = std::min<std::size_t>(block, data.size() - b * block);
        auto* p = reinterpret_cast<const unsigned char*>(data.data() + b * block);
        INFO("block " << b);
        CHECK(be32(sig, 12 + b * (4 + strong)) == rabinkarp_direct(p, len));
    }
}

TEST_CASE("the rolling weak sum equals the direct one at every offset") {
    std::mt19937_64 rng(2);
    std::string data = random_bytes(rng, 5000);
    auto* p = reinterpret_cast<const unsigned char*>(data.data());
    for (std::size_t window : {1u, 7u, 512u, 2048u}) {
        RollingRabinKarp r;
        for (std::size_t i = 0; i < window; ++i) r.add(p[i]);
        for (std::size_t start = 0; start + window <= data.size(); ++start) {
            REQUIRE(r.hash == rabinkarp_direct(p + start, window));
            if (start + window < data.size()) r.rotate(p[start], p[start + window]);
        }
    }
}

TEST_CASE("signature, delta and patch reproduce the new file for every kind of edit") {
    std::mt19937_64 rng(3);
    const std::size_t sizes[] = {0, 1, 511, 512, 513, 4096, 100'000, 3u << 20};
    for (std::size_t size : sizes) {
        std::string basis = random_bytes(rng, size);
        std::size_t block = block_length_for(size);
        std::size_t mid = size / 2;
        std::vector<std::pair<std::string, std::string>> edits = {
            {"identical", basis},
            {"empty", ""},
            {"append", basis + random_bytes(rng, 1000)},
            {"prepend", random_bytes(rng, 3) + basis},
            {"insert", basis.substr(0, mid) + random_bytes(rng, 17) + basis.substr(mid)},
            {"delete", basis.substr(0, mid) + basis.substr(std::min(size, mid + 100))},
            {"truncate", basis.substr(0, size / 3)},
            {"overwrite",
             [&] {
                 std::string s = basis;
                 for (std::size_t i = mid; i < std::min(size, mid + 50); ++i) s[i] ^= 0x5a;
                 return s;
             }()},
            {"block boundary",
             [&] {
                 std::string s = basis;
                 if (size > block) s[block - 1] ^= 1, s[block] ^= 1;
                 return s;
             }()},
            {"unrelated", random_bytes(rng, size)},
        };
        for (const auto& [name, wanted] : edits) {
            INFO("size " << size << ", edit " << name);
            auto r = round_trip(basis, wanted);
            REQUIRE(r.ok);
            REQUIRE(r.rebuilt == wanted);
        }
    }
}

TEST_CASE("a one-byte change in a several-MiB file yields a delta of a few blocks") {
    std::mt19937_64 rng(4);
    std::string basis = random_bytes(rng, 8u << 20);
    std::string wanted = basis;
    wanted[5'000'001] ^= 0x01;
    auto r = round_trip(basis, wanted);
    REQUIRE(r.ok);
    REQUIRE(r.rebuilt == wanted);
    CHECK(r.delta.size() < 4 * block_length_for(wanted.size()));
    CHECK(r.signature.size() < 200'000);
    // An insertion shifts everything after it: only rolling matching finds the shifted blocks.
    std::string shifted = basis.substr(0, 1000) + "X" + basis.substr(1000);
    auto s = round_trip(basis, shifted);
    REQUIRE(s.ok);
    CHECK(s.delta.size() < 4 * block_length_for(shifted.size()));
}

TEST_CASE("a delta cannot copy outside its basis nor expand beyond the expected size") {
    std::mt19937_64 rng(5);
    std::string basis = random_bytes(rng, 10'000);
    std::string big = basis + basis;
    std::string delta = delta_of(signature_of(basis), big);
    std::string out;
    // Applied to a shorter basis, the COPY commands point past its end.
    CHECK_FALSE(patch_of(basis.substr(0, 100), delta, &out, big.size()));
    // Output bound below the real size.
    CHECK_FALSE(patch_of(basis, delta, &out, big.size() - 1));
    CHECK(out.size() <= big.size() - 1);
    CHECK(patch_of(basis, delta, &out, big.size()));
    CHECK(out == big);
    // Truncated delta.
    CHECK_FALSE(patch_of(basis, delta.substr(0, delta.size() - 1), &out, big.size()));
}

TEST_CASE("signatures with out-of-range parameters are refused before librsync sees them") {
    std::string error;
    auto header = [](std::uint32_t magic, std::uint32_t block, std::uint32_t strong) {
        std::string s;
        for (std::uint32_t v : {magic, block, strong})
            for (int sh = 24; sh >= 0; sh -= 8) s += static_cast<char>((v >> sh) & 0xff);
        return s;
    };
    CHECK_FALSE(load_signature("", &error));
    CHECK_FALSE(load_signature(header(RS_RK_BLAKE2_SIG_MAGIC, 0, 8), &error));
    CHECK_FALSE(load_signature(header(RS_RK_BLAKE2_SIG_MAGIC, 1u << 30, 8), &error));
    // CVE-2024-12084 analogue: a strong-sum length beyond the buffer it is copied into.
    CHECK_FALSE(load_signature(header(RS_RK_BLAKE2_SIG_MAGIC, 2048, 1000), &error));
    CHECK_FALSE(load_signature(header(RS_RK_BLAKE2_SIG_MAGIC, 2048, 0), &error));
    CHECK_FALSE(load_signature(header(RS_MD4_SIG_MAGIC, 2048, 8), &error));
    CHECK_FALSE(load_signature(header(RS_RK_BLAKE2_SIG_MAGIC, 2048, 8) + "abc", &error));
    CHECK(load_signature(header(RS_RK_BLAKE2_SIG_MAGIC, 2048, 8), &error));  // empty file
}

TEST_CASE("a signature with a 1-byte strong sum still yields a correct patch") {
    // CVE-2024-12085 was about comparing more sum bytes than the peer sent; a short sum must
    // only ever make matching weaker, and the result is verified by hash anyway.
    std::mt19937_64 rng(6);
    std::string basis = random_bytes(rng, 50'000);
    std::string wanted = basis;
    wanted[100] ^= 1;
    std::string sig;
    JobPump pump(RsJob(rs_sig_begin(1024, 1, RS_RK_BLAKE2_SIG_MAGIC)),
                 [&](const char* p, std::size_t n) {
                     sig.append(p, n);
                     return true;
                 });
    REQUIRE(pump.feed(basis.data(), basis.size(), true) == RS_DONE);
    std::string delta = delta_of(sig, wanted);
    REQUIRE_FALSE(delta.empty());
    std::string out;
    REQUIRE(patch_of(basis, delta, &out, wanted.size()));
    // With 8 bits of strong sum a false match is possible; what must hold is that the patch
    // stays within bounds and produces exactly the announced size or fails.
    CHECK(out.size() == wanted.size());
}

TEST_CASE("fuzz: random and mutated deltas and signatures never crash the parsers") {
    std::mt19937_64 rng(8);
    std::string basis = random_bytes(rng, 20'000);
    std::string wanted = basis.substr(0, 9000) + random_bytes(rng, 300) + basis.substr(9500);
    std::string sig = signature_of(basis);
    std::string delta = delta_of(sig, wanted);
    REQUIRE_FALSE(delta.empty());
    for (int i = 0; i < 3000; ++i) {
        std::string d = (i % 3 == 0) ? "rs\x02\x36" + random_bytes(rng, rng() % 200) : delta;
        if (i % 3) {
            for (int k = 0, n = 1 + rng() % 4; k < n; ++k) {
                std::size_t pos = rng() % d.size();
                if (rng() % 2)
                    d[pos] = static_cast<char>(rng());
                else
                    d.erase(pos, 1 + rng() % 16);
                if (d.empty()) d = "x";
            }
        }
        std::string out;
        patch_of(basis, d, &out, wanted.size());
        REQUIRE(out.size() <= wanted.size());

        std::string s = sig;
        std::size_t pos = rng() % s.size();
        s[pos] = static_cast<char>(rng());
        if (rng() % 4 == 0) s = random_bytes(rng, rng() % 64);
        std::string error;
        load_signature(s, &error);
    }
}
