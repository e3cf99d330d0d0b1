#include "export_state.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "safe_fs.h"
#include "test_support.h"

using namespace docsync;
using namespace std::chrono_literals;
using docsync_test::TempDir;
using docsync_test::write_file;

TEST_CASE("inotify makes a new file visible in the manifest well within a second") {
    TempDir root;
    mkdir((root / "d").c_str(), 0755);
    ExportState state("docs", root.path(), 60s);
    std::string error;
    REQUIRE(state.start(&error));
    auto first = state.current();
    REQUIRE(first);
    CHECK(first->manifest.size() == 1);
    auto t0 = std::chrono::steady_clock::now();
    std::thread writer([&] {
        std::this_thread::sleep_for(50ms);
        write_file(root / "d/new.html", "hi");
    });
    auto snap = state.wait_for_change(first->etag, 5s, nullptr);
    writer.join();
    auto waited = std::chrono::steady_clock::now() - t0;
    REQUIRE(snap);
    CHECK(snap->etag != first->etag);
    CHECK(waited < 2s);  // inotify, not the 60 s rescan; slack for a loaded machine
    // the change may arrive in two steps (create, then close_write): wait for the final state
    for (int i = 0; i < 40 && !state.current()->manifest.count("d/new.html"); ++i)
        std::this_thread::sleep_for(25ms);
    CHECK(state.current()->manifest.count("d/new.html") == 1);
    CHECK(state.inotify_active());

    auto changes = state.changes_since(first->etag);
    CHECK(changes.rfind("DSM1D " + first->etag, 0) == 0);
    CHECK(state.changes_since(std::string(64, '0')).empty());
    state.stop();
}

TEST_CASE("waiting for a change returns at the timeout or when aborted") {
    TempDir root;
    ExportState state("docs", root.path(), 60s);
    REQUIRE(state.start(nullptr));
    auto etag = state.current()->etag;
    auto t0 = std::chrono::steady_clock::now();
    auto snap = state.wait_for_change(etag, 200ms, nullptr, 50ms);
    CHECK(std::chrono::steady_clock::now() - t0 >= 200ms);
    CHECK(snap->etag == etag);
    t0 = std::chrono::steady_clock::now();
    state.wait_for_change(
        etag, 10s, [] { return true; }, 50ms);
    CHECK(std::chrono::steady_clock::now() - t0 < 1s);
}

TEST_CASE("an unchanged tree is rescanned without re-reading file contents") {
    TempDir root;
    write_file(root / "a", std::string(100'000, 'a'));
    write_file(root / "b", "b");
    symlink("/etc/passwd", (root / "l").c_str());
    HashCache cache;
    UniqueFd fd = open_root(root.path());
    auto first = scan_tree(fd.get(), cache);
    REQUIRE(first.ok());
    CHECK(cache.bytes_hashed == 100'001);
    auto second = scan_tree(fd.get(), cache);
    CHECK(cache.bytes_hashed == 100'001);
    CHECK(second.manifest == first.manifest);
    // An export leaves out a link a secondary would refuse; the secondary's own scan records
    // it (not followed), so a sync can replace it.
    CHECK(second.manifest.count("l") == 0);
    CHECK(std::count(second.skipped.begin(), second.skipped.end(), "l") == 1);
    ScanOptions keep_links;
    keep_links.skip_unsafe_symlinks = false;
    auto with_links = scan_tree(fd.get(), cache, keep_links);
    CHECK(with_links.manifest.at("l").type == EntryType::kSymlink);
    CHECK(with_links.manifest.at("l").target == "/etc/passwd");
    CHECK(cache.bytes_hashed == 100'001);
    write_file(root / "b", "bb");  // new size: re-hashed
    auto third = scan_tree(fd.get(), cache);
    CHECK(cache.bytes_hashed == 100'003);
    CHECK(third.manifest.at("b").size == 2);
}

TEST_CASE("the periodic rescan runs on its interval without any inotify event") {
    TempDir root;
    ExportState state("docs", root.path(), 100ms);
    REQUIRE(state.start(nullptr));
    auto scans = state.scans();
    // Bounded wait (a loaded CI machine may be slow); with a 60 s default nothing would come.
    for (int i = 0; i < 60 && state.scans() < scans + 2; ++i) std::this_thread::sleep_for(50ms);
    CHECK(state.scans() >= scans + 2);
}

TEST_CASE("a file being rewritten never disappears from the manifest") {
    TempDir root;
    const std::string path = root / "growing.log";
    write_file(path, std::string(1 << 20, 'a'));
    ExportState state("docs", root.path(), 60s);
    REQUIRE(state.start(nullptr));
    std::atomic<bool> stop{false};
    std::thread writer([&] {
        for (int i = 0; i < 2000 && !stop; ++i) {
            std::ofstream f(path, std::ios::binary | std::ios::app);
            f << std::string(4096, static_cast<char>('a' + i % 26));
        }
    });
    int missing = 0;
    ExportState::Dirty root_dir;
    root_dir.dirs.insert("");
    for (int i = 0; i < 50; ++i) {
        if (i % 2)
            state.rescan();
        else
            state.rescan(root_dir);  // what an event does
        missing += state.current()->manifest.count("growing.log") == 0;
    }
    stop = true;
    writer.join();
    CHECK(missing == 0);
    state.stop();
}

TEST_CASE("inotify events rescan only what they name and the manifest ends as a full scan's") {
    TempDir root;
    auto sh = [&](const std::string& command) {
        REQUIRE(std::system(("cd '" + root.path() + "' && " + command).c_str()) == 0);
    };
    sh("mkdir -p a/sub b/c/d && echo x > a/x && echo z > b/c/d/z");
    ExportState state("docs", root.path(), 600s);
    REQUIRE(state.start(nullptr));
    REQUIRE(state.inotify_active());
    const auto full_scans = state.full_scans();
    auto settles = [&] {
        // Bounded: a loaded machine may take a while; a missed event never settles.
        for (int i = 0; i < 200; ++i) {
            HashCache cache;
            UniqueFd fd = open_root(root.path());
            if (state.current()->manifest == scan_tree(fd.get(), cache).manifest) return true;
            std::this_thread::sleep_for(25ms);
        }
        return false;
    };
    sh("echo new > a/sub/new.html");
    CHECK(settles());
    // Created with content faster than a watch can be added: listed again once it is watched.
    sh("mkdir -p n/m/l && echo 1 > n/m/l/one && echo 2 > n/two");
    CHECK(settles());
    sh("echo 3 > n/m/l/three");  // the new directories are watched now
    CHECK(settles());
    sh("mv b/c a/moved && echo later > a/moved/d/later");  // the watch moves with it
    CHECK(settles());
    sh("rm -r a/sub && echo file > a/sub && rm a/x && mkdir a/x && chmod 700 a");
    CHECK(settles());
    CHECK(state.full_scans() == full_scans);  // none of these needed the whole tree
    CHECK(state.inotify_active());
    state.stop();
}

TEST_CASE("a snapshot is known by its etag while it is in the history") {
    TempDir root;
    ExportState state("docs", root.path(), 60s);
    REQUIRE(state.start(nullptr));
    std::string first = state.current()->etag;
    CHECK(state.knows(first));
    CHECK_FALSE(state.knows(std::string(64, 'f')));
    for (std::size_t i = 0; i <= kManifestHistory; ++i) {
        write_file(root / ("f" + std::to_string(i)), "x");
        state.rescan();
    }
    CHECK(state.knows(state.current()->etag));
    CHECK_FALSE(state.knows(first));
    state.stop();
}
