#include "block_index.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>

#include "crypto.h"
#include "export_service.h"
#include "safe_fs.h"
#include "test_support.h"
#include "tree_scan.h"

using namespace docsync;
using docsync_test::TempDir;
using docsync_test::write_file;

namespace {

BlockIndex index_of(const std::string& content, std::int64_t mtime_ns = 0) {
    BlockHasher h;
    h.update(content.data(), content.size());
    return BlockIndex{sha256_hex(content), content.size(), mtime_ns, h.finish()};
}

// A file descriptor holding `content` (the delta's literals are read from it).
UniqueFd memfd_with(const std::string& content) {
    UniqueFd fd(::memfd_create("block-index-test", MFD_CLOEXEC));
    REQUIRE(::write(fd.get(), content.data(), content.size()) ==
            static_cast<ssize_t>(content.size()));
    return fd;
}

std::string block_delta(const std::string& basis, const std::string& current) {
    UniqueFd fd = memfd_with(current);
    std::string delta, error;
    REQUIRE(write_block_delta(
        index_of(basis), index_of(current), fd.get(),
        [&](const char* p, std::size_t n) {
            delta.append(p, n);
            return true;
        },
        &error));
    return delta;
}

}  // namespace

TEST_CASE("block digests do not depend on how the stream is cut") {
    std::mt19937_64 rng(1);
    std::string data = docsync_test::random_bytes(rng, 5 * kIndexBlockBytes + 123);
    BlockHasher whole, pieces;
    whole.update(data.data(), data.size());
    for (std::size_t pos = 0, step = 1; pos < data.size(); pos += step, step = step * 3 + 1)
        pieces.update(data.data() + pos, std::min(step, data.size() - pos));
    auto a = whole.finish();
    CHECK(a.size() == 6);
    CHECK(a == pieces.finish());
    CHECK(consistent(BlockIndex{"", data.size(), 0, a}));
}

TEST_CASE("a block delta patched by librsync gives the new content, sending only changed blocks") {
    std::mt19937_64 rng(2);
    const std::string basis = docsync_test::random_bytes(rng, 2u << 20);
    std::string current = basis;
    current[1'000'000] ^= 1;
    std::string delta = block_delta(basis, current);
    CHECK(delta.size() < kIndexBlockBytes + 64);
    CHECK(literal_bytes(index_of(basis), index_of(current)) == kIndexBlockBytes);
    std::string out;
    REQUIRE(patch_of(basis, delta, &out, current.size()));
    CHECK(out == current);

    SECTION("grown, shrunk and with a short last block") {
        for (std::string next : {current + "tail", current.substr(0, 1'500'001),
                                 std::string(current.size(), 'x'), std::string()}) {
            std::string patched;
            REQUIRE(patch_of(basis, block_delta(basis, next), &patched, next.size()));
            CHECK(patched == next);
        }
    }
}

TEST_CASE("a block delta from a file shorter than its index fails instead of padding") {
    std::string content(4 * kIndexBlockBytes, 'a'), other(4 * kIndexBlockBytes, 'b');
    UniqueFd fd = memfd_with(content.substr(0, kIndexBlockBytes));
    std::string error;
    CHECK_FALSE(write_block_delta(
        index_of(content), index_of(other), fd.get(), [](const char*, std::size_t) { return true; },
        &error));
    CHECK_FALSE(error.empty());
}

TEST_CASE("the store keeps the current and the previous version of a path, within its budget") {
    BlockIndexStore store(10);
    const std::string v1(3 * kIndexBlockBytes, '1'), v2(3 * kIndexBlockBytes, '2'),
        v3(3 * kIndexBlockBytes, '3');
    store.put("f", index_of(v1));
    store.put("f", index_of(v2));
    CHECK(store.current("f")->sha256 == sha256_hex(v2));
    CHECK(store.find("f", sha256_hex(v1)));
    store.put("f", index_of(v2, 7));  // touched, same content: v1 stays the previous version
    CHECK(store.find("f", sha256_hex(v1)));
    CHECK(store.current("f")->mtime_ns == 7);
    store.put("f", index_of(v3));
    CHECK_FALSE(store.find("f", sha256_hex(v1)));
    CHECK(store.find("f", sha256_hex(v2)));
    CHECK(store.stored_blocks() == 6);
    store.put("g", index_of(std::string(5 * kIndexBlockBytes, 'g')));  // 6 + 5 > 10
    CHECK_FALSE(store.current("g"));
    store.retain([](const std::string& p) { return p != "f"; });
    CHECK_FALSE(store.current("f"));
    CHECK(store.stored_blocks() == 0);
}

TEST_CASE("the primary answers from its indexes only for a known basis and the file as scanned") {
    TempDir dir;
    std::string v1(64 * 1024, 'a');
    write_file(dir / "big", v1);
    write_file(dir / "small", "small");
    HashCache cache;
    BlockIndexStore store;
    ScanOptions options;
    options.on_block_index = [&](const std::string& path, BlockIndex i) {
        store.put(path, std::move(i));
    };
    UniqueFd root = open_root(dir.path());
    scan_tree(root.get(), cache, options);
    CHECK_FALSE(store.current("small"));  // below kMinIndexedFileBytes
    std::string v2 = v1;
    v2[40'000] = 'b';
    write_file(dir / "big", v2);
    ::utimensat(AT_FDCWD, (dir / "big").c_str(), nullptr, 0);
    scan_tree(root.get(), cache, options);
    BlockDeltaSource source;
    std::string error;
    CHECK(prepare_block_delta(root.get(), store, "big", sha256_hex(v1), &source, &error) ==
          ServeStatus::kOk);
    CHECK(prepare_block_delta(root.get(), store, "big", sha256_hex("other"), &source, &error) ==
          ServeStatus::kUnknownBasis);
    CHECK(prepare_block_delta(root.get(), store, "big", "not-hex", &source, &error) ==
          ServeStatus::kBadRequest);
    CHECK(prepare_block_delta(root.get(), store, "../x", sha256_hex(v1), &source, &error) ==
          ServeStatus::kBadRequest);
    // Replaced by another file of the same size and mtime: a new inode.
    write_file(dir / "big.new", v1);
    struct stat st;
    REQUIRE(::stat((dir / "big").c_str(), &st) == 0);
    timespec same[2] = {st.st_atim, st.st_mtim};
    ::utimensat(AT_FDCWD, (dir / "big.new").c_str(), same, 0);
    ::rename((dir / "big").c_str(), (dir / "big.old").c_str());
    ::rename((dir / "big.new").c_str(), (dir / "big").c_str());
    CHECK(prepare_block_delta(root.get(), store, "big", sha256_hex(v1), &source, &error) ==
          ServeStatus::kUnknownBasis);
    ::rename((dir / "big.old").c_str(), (dir / "big").c_str());
    CHECK(prepare_block_delta(root.get(), store, "big", sha256_hex(v1), &source, &error) ==
          ServeStatus::kOk);
    // Changed since the scan: the index no longer describes the file.
    timespec later[2] = {{0, UTIME_OMIT}, {12345, 0}};
    ::utimensat(AT_FDCWD, (dir / "big").c_str(), later, 0);
    CHECK(prepare_block_delta(root.get(), store, "big", sha256_hex(v1), &source, &error) ==
          ServeStatus::kUnknownBasis);
}
