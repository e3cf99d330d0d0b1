#include "path_policy.h"

#include <catch2/catch.hpp>

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
    CHECK(is_safe_symlink_target("a", "x/../y"));
    CHECK_FALSE(is_safe_symlink_target("a", "/etc/passwd"));
    CHECK_FALSE(is_safe_symlink_target("a", "../b"));
    CHECK_FALSE(is_safe_symlink_target("d/a", "../../etc"));
    CHECK_FALSE(is_safe_symlink_target("d/a", "x/../../../etc"));
    CHECK_FALSE(is_safe_symlink_target("a", ""));
}

TEST_CASE("exclude globs match a path, its last component or a directory above it") {
    CHECK(glob_excludes("*.swp", "a/b/.x.swp"));
    CHECK(glob_excludes("cache", "cache/x/y"));
    CHECK(glob_excludes("cache/*", "cache/x"));
    CHECK(glob_excludes("local.conf", "local.conf"));
    CHECK_FALSE(glob_excludes("*.swp", "a/b/x.conf"));
    CHECK_FALSE(glob_excludes("cache", "cached/x"));
}
