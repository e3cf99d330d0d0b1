#include "path_policy.h"

#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <random>

#include "test_support.h"

using namespace docsync;

TEST_CASE("hostile relative paths are refused") {
    const std::string hostile[] = {
        "",
        "..",
        ".",
        "../etc/passwd",
        "a/../../etc/passwd",
        "a/..",
        "./a",
        "a/./b",
        "/etc/passwd",
        "//etc",
        "a//b",
        "a/",
        std::string("a\0b", 3),
        "a\nb",
        "tab\there",
        "del\x7f",
        "esc\x1b[31m",
        std::string(256, 'x'),
        "ok/" + std::string(256, 'y'),
        std::string(kMaxPathBytes + 1, 'a'),
        ".docsync-tmp-0123",
        "dir/.docsync-tmp-abc",
        ".docsync-state.htdocs",
        "sub/.docsync-state.conf/version",
        ".docsync-stage.common",
    };
    for (const auto& p : hostile) {
        INFO("path: " << p);
        CHECK_FALSE(is_valid_relative_path(p));
    }
    std::string deep;
    for (std::size_t i = 0; i <= kMaxPathDepth; ++i) deep += (i ? "/d" : "d");
    CHECK_FALSE(is_valid_relative_path(deep));
}

TEST_CASE("ordinary relative paths are accepted") {
    for (const char* p :
         {"a", "a/b/c.conf", "...", "..a", "a..", ".hidden", "sp ace", "\xc3\xa9t\xc3\xa9.html",
          "x/.htaccess", ".docsync-statement", "docsync-state.x"}) {
        INFO(p);
        CHECK(is_valid_relative_path(p));
    }
    CHECK(is_valid_relative_path(std::string(255, 'n')));
}

TEST_CASE("percent encoding round-trips every byte and the decoder is strict") {
    std::string all;
    for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
    auto enc = percent_encode(all);
    for (char c : enc) {
        CHECK(static_cast<unsigned char>(c) > 0x20);
        CHECK(static_cast<unsigned char>(c) < 0x7f);
    }
    CHECK(percent_decode(enc) == all);
    CHECK_FALSE(percent_decode("%"));
    CHECK_FALSE(percent_decode("%4"));
    CHECK_FALSE(percent_decode("%zz"));
    CHECK_FALSE(percent_decode("a b"));
    CHECK_FALSE(percent_decode("a\x01"));
}

TEST_CASE("symlink targets that leave the root are unsafe") {
    CHECK(is_safe_symlink_target("a", "b"));
    CHECK(is_safe_symlink_target("d/a", "../b"));
    CHECK(is_safe_symlink_target("d/e/a", "../../b/c"));
    CHECK(is_safe_symlink_target("d/e/a", "..//../b"));
    CHECK(is_safe_symlink_target("d/a", "./../b"));
    CHECK(is_safe_symlink_target("d/a", ".."));
    CHECK(is_safe_symlink_target("a", "..."));
    CHECK(is_safe_symlink_target("a", "."));
    CHECK_FALSE(is_safe_symlink_target("a", "/etc/passwd"));
    CHECK_FALSE(is_safe_symlink_target("a", "../b"));
    CHECK_FALSE(is_safe_symlink_target("d/a", "../../etc"));
    CHECK_FALSE(is_safe_symlink_target("d/a", "x/../../../etc"));
    CHECK_FALSE(is_safe_symlink_target("a", ""));
}

TEST_CASE("a '..' after any other component is unsafe (rsync 3.4.0, CVE-2024-12088)") {
    // Lexically inside, but "x" may be (or become) a symlink, e.g. "x -> .".
    CHECK_FALSE(is_safe_symlink_target("a", "x/../y"));
    CHECK_FALSE(is_safe_symlink_target("d/e/a", "x/.."));
    CHECK_FALSE(is_safe_symlink_target("d/e/a", "../x/../y"));
    CHECK_FALSE(is_safe_symlink_target("d/e/a", "x/y/../../z"));
    CHECK_FALSE(is_safe_symlink_target("d/a", "x/./../y"));
    CHECK_FALSE(is_safe_symlink_target("d/a", "x//.."));
    // The chain from issue 9: each link alone passed the old lexical check.
    CHECK(is_safe_symlink_target("b", "."));
    CHECK_FALSE(is_safe_symlink_target("etc", "b/b/b/b/../../../../etc"));
    CHECK_FALSE(is_safe_symlink_target("d/etc", "../b/b/b/../../../../etc"));
}

TEST_CASE("exclude globs match a path, its last component or a directory above it") {
    CHECK(glob_excludes("*.swp", "a/b/.x.swp"));
    CHECK(glob_excludes("cache", "cache/x/y"));
    CHECK(glob_excludes("cache/*", "cache/x"));
    CHECK(glob_excludes("local.conf", "local.conf"));
    CHECK_FALSE(glob_excludes("*.swp", "a/b/x.conf"));
    CHECK_FALSE(glob_excludes("cache", "cached/x"));
}

TEST_CASE("links that pass the rule never resolve outside the root, chains included") {
    // Random targets over components that matter ("..", ".", real directories and the links
    // themselves) for links at several depths; every link the rule accepts is created, then
    // the kernel resolves each one. The old lexical rule fails this within a few rounds
    // ("l1 -> ." with "l2 -> l1/l1/../..").
    const std::vector<std::string> links = {"l1", "l2", "a/l3", "a/b/l4", "a/b/l5"};
    const std::vector<std::string> parts = {"..", "..", ".", "a", "b", "l1", "l2", "l4", "l5"};
    std::mt19937 rng(2024);
    std::size_t created_total = 0;
    docsync_test::TempDir top;
    // First the known chains (issue 9 and variants through a deeper link), then random ones.
    const std::vector<std::vector<std::string>> fixed = {
        {".", "l1/l1/../..", "../l2", "../../l1/l1/l1/../../../..", "."},
        {".", ".", "../l1/l2/../..", "../../a/b/../..", "l5/../../../.."},
        {"a/b", "l1/../../..", "b/../..", "./l4/..", ".."},
    };
    for (int round = 0; round < 400; ++round) {
        const std::string root = top / ("root" + std::to_string(round));
        mkdir(root.c_str(), 0755);
        mkdir((root + "/a").c_str(), 0755);
        mkdir((root + "/a/b").c_str(), 0755);
        for (std::size_t k = 0; k < links.size(); ++k) {
            const std::string& link = links[k];
            std::string target;
            std::size_t n = 1 + rng() % 6;
            for (std::size_t i = 0; i < n; ++i)
                target += (i ? "/" : "") + parts[rng() % parts.size()];
            if (static_cast<std::size_t>(round) < fixed.size()) target = fixed[round][k];
            if (!is_safe_symlink_target(link, target)) continue;
            REQUIRE(symlink(target.c_str(), (root + "/" + link).c_str()) == 0);
            ++created_total;
        }
        char real_root[PATH_MAX];
        REQUIRE(realpath(root.c_str(), real_root));
        for (const auto& link : links) {
            for (const std::string via : {"", "/.", "/l1", "/l2", "/l3/l4"}) {
                char resolved[PATH_MAX];
                std::string p = root + "/" + link + via;
                if (!realpath(p.c_str(), resolved)) continue;  // dangling or a loop: harmless
                std::string r = resolved;
                INFO(p << " -> " << r);
                CHECK((r == real_root || r.rfind(std::string(real_root) + "/", 0) == 0));
            }
        }
    }
    CHECK(created_total > 400);  // the test did create links
}
