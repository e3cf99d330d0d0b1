#include "tree_scan.h"

#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>

#include "safe_fs.h"
#include "test_support.h"

using namespace docsync;
using docsync_test::TempDir;
using docsync_test::write_file;

namespace {

Manifest full_scan(const std::string& dir) {
    HashCache cache;
    UniqueFd fd = open_root(dir);
    return scan_tree(fd.get(), cache).manifest;
}

// What an ExportState keeps between events: the manifest and the cache of its last scan.
struct Scoped {
    std::string dir;
    HashCache cache;
    Manifest manifest;
    explicit Scoped(std::string d) : dir(std::move(d)) {
        UniqueFd fd = open_root(dir);
        manifest = scan_tree(fd.get(), cache).manifest;
    }
    void rescan(const std::set<std::string>& dirs, const std::set<std::string>& deep = {}) {
        UniqueFd fd = open_root(dir);
        ScanResult r = rescan_dirs(fd.get(), cache, manifest, dirs, deep);
        REQUIRE(r.ok());
        manifest = std::move(r.manifest);
    }
};

void sh(const std::string& command) {
    REQUIRE(std::system(command.c_str()) == 0);
}

}  // namespace

TEST_CASE("rescanning the directories an event names gives what a full scan gives") {
    TempDir root;
    sh("cd '" + root.path() +
       "' && mkdir -p a/sub b/c/d && echo x > a/x.txt && echo y > a/sub/y.txt && "
       "echo z > b/c/d/z && echo o > b/other && echo t > top.txt && ln -s top.txt link");
    Scoped s(root.path());
    REQUIRE(s.manifest == full_scan(root.path()));

    SECTION("a new file, a changed one, a removed one") {
        write_file(root / "a/sub/new.txt", "new");
        write_file(root / "a/x.txt", "changed");
        unlink((root / "top.txt").c_str());
        s.rescan({"a/sub", "a", ""});
        CHECK(s.manifest == full_scan(root.path()));
    }
    SECTION("a directory moved elsewhere, with its subtree") {
        sh("cd '" + root.path() + "' && mv b/c a/moved");
        s.rescan({"a", "b"}, {"b/c", "a/moved"});
        CHECK(s.manifest == full_scan(root.path()));
        CHECK(s.manifest.count("a/moved/d/z") == 1);
        CHECK(s.manifest.count("b/c/d/z") == 0);
    }
    SECTION("a new directory with content, read whole") {
        sh("cd '" + root.path() + "' && mkdir -p new/deeper && echo n > new/deeper/f");
        s.rescan({""}, {"new"});
        CHECK(s.manifest == full_scan(root.path()));
        CHECK(s.manifest.count("new/deeper/f") == 1);
    }
    SECTION("a file replaced by a directory and a directory by a file") {
        sh("cd '" + root.path() + "' && rm a/x.txt && mkdir a/x.txt && echo in > a/x.txt/in && " +
           "rm -r a/sub && echo now-a-file > a/sub");
        s.rescan({"a", "a/sub"}, {"a/x.txt", "a/sub"});
        CHECK(s.manifest == full_scan(root.path()));
        CHECK(s.manifest.at("a/sub").type == EntryType::kFile);
        CHECK(s.manifest.count("a/sub/y.txt") == 0);
    }
    SECTION("a directory that is gone, named by a stale watch, drops its subtree") {
        sh("rm -r '" + (root / "b/c") + "'");
        s.rescan({"b/c/d"});  // only the deepest watch reported it: its parents are listed too
        CHECK(s.manifest == full_scan(root.path()));
    }
    SECTION("a mode change of a directory") {
        chmod((root / "a").c_str(), 0700);
        s.rescan({"", "a"});
        CHECK(s.manifest == full_scan(root.path()));
    }
    SECTION("only the named directories are read") {
        write_file(root / "b/other", "changed where no event said");
        write_file(root / "a/seen", "seen");
        s.rescan({"a"});
        CHECK(s.manifest.count("a/seen") == 1);
        CHECK(s.manifest != full_scan(root.path()));  // b/other keeps its old entry
        s.rescan({"b"});
        CHECK(s.manifest == full_scan(root.path()));
    }
}

TEST_CASE("scanning named paths records them as a full scan would, never through a symlink") {
    TempDir root, outside;
    sh("cd '" + root.path() + "' && mkdir -p d/e && echo f > d/e/f && echo g > g");
    write_file(outside / "secret", "s");
    HashCache cache;
    UniqueFd fd = open_root(root.path());
    Manifest full = full_scan(root.path());
    ScanResult r = scan_paths(fd.get(), cache, {"d/e/f", "d", "d/e", "g", "missing", "d/none/x"});
    REQUIRE(r.ok());
    CHECK(r.manifest.size() == 4);
    for (const auto& [path, e] : r.manifest) CHECK(full.at(path) == e);

    // d/e becomes a link to a directory outside: what is beneath it is not looked at.
    sh("rm -r '" + (root / "d/e") + "' && ln -s '" + outside.path() + "' '" + (root / "d/e") + "'");
    ScanOptions secondary;  // records unsafe links (to replace them) instead of skipping them
    secondary.skip_unsafe_symlinks = false;
    r = scan_paths(fd.get(), cache, {"d/e", "d/e/secret"}, secondary);
    REQUIRE(r.ok());
    CHECK(r.manifest.size() == 1);
    CHECK(r.manifest.at("d/e").type == EntryType::kSymlink);
}
