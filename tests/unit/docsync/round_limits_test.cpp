#include "round_limits.h"

#include <fcntl.h>

#include <catch2/catch.hpp>

#include "safe_fs.h"
#include "sync_engine.h"

using namespace docsync;

namespace {
SourceOptions parsed(std::vector<std::string> options) {
    std::vector<std::string> args = {"https://p/.docsync/x", "/srv/x"};
    args.insert(args.end(), options.begin(), options.end());
    SourceOptions s;
    std::string error;
    INFO(error);
    REQUIRE(parse_source_args(args, &s, &error));
    return s;
}
std::string refusal(std::vector<std::string> options) {
    std::vector<std::string> args = {"https://p/.docsync/x", "/srv/x"};
    args.insert(args.end(), options.begin(), options.end());
    SourceOptions s;
    std::string error;
    CHECK_FALSE(parse_source_args(args, &s, &error));
    return error;
}
}  // namespace

TEST_CASE("limit defaults: small for a configuration tree, only the absurd for a docroot") {
    RoundLimits doc = parsed({}).limits;
    CHECK(doc.max_files == kDocrootMaxFiles);
    CHECK(doc.max_bytes == 0);
    CHECK_FALSE(doc.max_delete_count);
    CHECK(doc.refuse_empty_manifest);
    RoundLimits conf = parsed({"restart=graceful"}).limits;
    CHECK(conf.max_files == kGracefulMaxFiles);
    CHECK(conf.max_bytes == kGracefulMaxBytes);
    CHECK(conf.max_delete_count == kGracefulMaxDelete);
    CHECK(conf.refuse_empty_manifest);
    CHECK(conf.max_files < doc.max_files);
}

TEST_CASE("limit options override the defaults in any order and bad values are named") {
    RoundLimits l =
        parsed({"max-delete=3", "restart=graceful", "max-delete=20%", "max-bytes=2M",
                "max-files=50", "empty-manifest=allow", "stall-timeout=5s", "round-timeout=2m"})
            .limits;
    CHECK(l.max_delete_count == 3u);
    CHECK(l.max_delete_percent == 20u);
    CHECK(l.max_bytes == 2u << 20);
    CHECK(l.max_files == 50);
    CHECK_FALSE(l.refuse_empty_manifest);
    CHECK(l.stall_timeout == std::chrono::seconds(5));
    CHECK(l.round_timeout == std::chrono::seconds(120));
    CHECK_FALSE(parsed({"restart=graceful", "max-delete=off"}).limits.max_delete_count);
    CHECK(parsed({"restart=graceful", "max-bytes=off"}).limits.max_bytes == 0);
    CHECK(refusal({"max-files=0"}).find("max-files") != std::string::npos);
    CHECK(refusal({"max-files=abc"}).find("max-files") != std::string::npos);
    CHECK(refusal({"max-delete=101%"}).find("max-delete") != std::string::npos);
    CHECK(refusal({"max-delete=-1"}).find("max-delete") != std::string::npos);
    CHECK(refusal({"max-bytes=lots"}).find("max-bytes") != std::string::npos);
    CHECK(refusal({"empty-manifest=maybe"}).find("empty-manifest") != std::string::npos);
    CHECK(refusal({"stall-timeout=0s"}).find("stall-timeout") != std::string::npos);
    CHECK(refusal({"round-timeout=forever"}).find("round-timeout") != std::string::npos);
}

TEST_CASE("a round over a limit is refused with the option's name") {
    RoundLimits l;
    l.max_files = 100;
    l.max_delete_count = 5;
    l.max_delete_percent = 50;
    l.max_bytes = 1000;
    RoundTotals t;
    t.local_entries = 20;
    t.remote_entries = 20;
    CHECK_FALSE(limit_problem(t, l));
    t.remote_entries = 101;
    CHECK(limit_problem(t, l)->find("max-files=100") != std::string::npos);
    t.remote_entries = 20;
    t.deletions = 6;
    CHECK(limit_problem(t, l)->find("max-delete=5") != std::string::npos);
    l.max_delete_count.reset();
    CHECK_FALSE(limit_problem(t, l));
    t.deletions = 11;
    CHECK(limit_problem(t, l)->find("max-delete=50%") != std::string::npos);
    t.deletions = 10;
    CHECK_FALSE(limit_problem(t, l));
    t.bytes_to_write = 1001;
    CHECK(limit_problem(t, l)->find("max-bytes=1000") != std::string::npos);
    t.bytes_to_write = 1000;
    CHECK_FALSE(limit_problem(t, l));
}

TEST_CASE("an empty manifest never empties a tree unless allowed") {
    RoundLimits l;  // no max-delete
    RoundTotals t;
    t.local_entries = 3;
    t.remote_entries = 0;
    t.deletions = 3;
    CHECK(limit_problem(t, l)->find("empty manifest") != std::string::npos);
    l.refuse_empty_manifest = false;
    CHECK_FALSE(limit_problem(t, l));
    l.refuse_empty_manifest = true;
    t.deletions = 0;  // an empty manifest for an empty tree is fine
    t.local_entries = 0;
    CHECK_FALSE(limit_problem(t, l));
}

TEST_CASE("free space: bytes and inodes keep their margin") {
    FreeSpace s;
    s.bytes_total = 100ull << 30;
    s.bytes_available = 10ull << 30;
    s.inodes_total = 1'000'000;
    s.inodes_available = 100'000;
    CHECK_FALSE(space_problem(1ull << 30, 1000, s));
    // 2% of 100 GiB stays free: 10 GiB available leaves room for 8 GiB.
    CHECK_FALSE(space_problem(8ull << 30, 1000, s));
    CHECK(space_problem((8ull << 30) + (1ull << 20), 1000, s)->find("free space") !=
          std::string::npos);
    CHECK(space_problem(1, 100'000 - 20'000 + 1, s)->find("inodes") != std::string::npos);
    CHECK_FALSE(space_problem(1, 100'000 - 20'000, s));
    // Below the absolute margin nothing fits.
    s.bytes_total = 1ull << 30;
    s.bytes_available = kMinFreeBytes - 1;
    CHECK(space_problem(0, 0, s));
    // A file system without an inode count (btrfs) is only checked for bytes.
    s.bytes_available = 1ull << 30;
    s.inodes_total = 0;
    s.inodes_available = 0;
    CHECK_FALSE(space_problem(1, 1'000'000, s));
}

TEST_CASE("the free space of a real file system can be read") {
    UniqueFd dir(::open("/tmp", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    REQUIRE(dir);
    auto s = free_space_of(dir.get());
    REQUIRE(s);
    CHECK(s->bytes_total > 0);
    CHECK(s->bytes_available <= s->bytes_total);
}
