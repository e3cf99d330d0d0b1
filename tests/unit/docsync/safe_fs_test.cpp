#include "safe_fs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "crypto.h"
#include "test_support.h"

using namespace docsync;
using docsync_test::exists;
using docsync_test::read_file;
using docsync_test::TempDir;
using docsync_test::write_file;

namespace {
std::size_t entries_in(const std::string& dir) {
    std::size_t n = 0;
    DIR* d = opendir(dir.c_str());
    while (dirent* de = readdir(d))
        if (std::string(de->d_name) != "." && std::string(de->d_name) != "..") ++n;
    closedir(d);
    return n;
}
}  // namespace

TEST_CASE("a verified file appears atomically with its mode and mtime") {
    TempDir root;
    UniqueFd fd = open_root(root.path());
    {
        AtomicFileWriter w(fd.get(), "a.txt");
        REQUIRE(w.ok());
        REQUIRE(w.write("hello", 5));
        CHECK_FALSE(exists(root / "a.txt"));  // only the temp file so far
        REQUIRE(w.commit(5, sha256_hex("hello"), 0640, 1'600'000'000'000'000'123));
    }
    CHECK(read_file(root / "a.txt") == "hello");
    struct stat st;
    REQUIRE(stat((root / "a.txt").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
    CHECK(st.st_mtim.tv_sec == 1'600'000'000);
    CHECK(st.st_mtim.tv_nsec == 123);
    CHECK(entries_in(root.path()) == 1);
}

TEST_CASE("content that does not match the manifest hash never becomes visible") {
    TempDir root;
    write_file(root / "a.txt", "old");
    UniqueFd fd = open_root(root.path());
    {
        AtomicFileWriter w(fd.get(), "a.txt");
        w.write("evil!", 5);
        CHECK_FALSE(w.commit(5, sha256_hex("hello"), 0644, 0));
    }
    {
        AtomicFileWriter w(fd.get(), "a.txt");
        w.write("hel", 3);  // interrupted transfer: writer destroyed without commit
    }
    CHECK(read_file(root / "a.txt") == "old");
    CHECK(entries_in(root.path()) == 1);  // no temp files left
}

TEST_CASE("writes never go through a symlinked directory or file") {
    TempDir root, outside;
    symlink(outside.path().c_str(), (root / "link").c_str());
    write_file(outside / "victim", "precious");
    symlink((outside / "victim").c_str(), (root / "file-link").c_str());
    UniqueFd fd = open_root(root.path());
    {
        AtomicFileWriter w(fd.get(), "link/x");
        CHECK_FALSE(w.ok());
    }
    CHECK_FALSE(open_dir_beneath(fd.get(), "link/sub", true));
    CHECK_FALSE(exists(outside / "x"));
    CHECK_FALSE(exists(outside / "sub"));
    {
        // Replacing a symlink by a file replaces the link itself.
        AtomicFileWriter w(fd.get(), "file-link");
        w.write("new", 3);
        REQUIRE(w.commit(3, sha256_hex("new"), 0644, 0));
    }
    CHECK(read_file(outside / "victim") == "precious");
    CHECK(read_file(root / "file-link") == "new");
    CHECK_FALSE(open_file_beneath(fd.get(), "link/victim"));
    CHECK_FALSE(set_mode_beneath(fd.get(), "link", 0777));
    CHECK_FALSE(AtomicFileWriter(fd.get(), "../escape").ok());
    CHECK_FALSE(AtomicFileWriter(fd.get(), "/tmp/escape").ok());
}

TEST_CASE("removal never follows symlinks") {
    TempDir root, outside;
    write_file(outside / "keep", "k");
    mkdir((root / "d").c_str(), 0755);
    write_file(root / "d/f", "f");
    symlink(outside.path().c_str(), (root / "d/out").c_str());
    UniqueFd fd = open_root(root.path());
    REQUIRE(remove_beneath(fd.get(), "d"));
    CHECK_FALSE(exists(root / "d"));
    CHECK(read_file(outside / "keep") == "k");
}

TEST_CASE("reading refuses symlinks and special files") {
    TempDir root;
    write_file(root / "f", "data");
    symlink("/etc/passwd", (root / "passwd").c_str());
    mkfifo((root / "fifo").c_str(), 0644);
    UniqueFd fd = open_root(root.path());
    CHECK(read_file_beneath(fd.get(), "f", 100) == std::optional<std::string>("data"));
    CHECK_FALSE(read_file_beneath(fd.get(), "f", 3));
    CHECK_FALSE(open_file_beneath(fd.get(), "passwd"));
    CHECK_FALSE(open_file_beneath(fd.get(), "fifo"));  // and does not block
}

TEST_CASE("copy_tree reproduces files, directories, symlinks, modes and mtimes") {
    TempDir a, b;
    mkdir((a / "d").c_str(), 0750);
    write_file(a / "d/f", "x");
    chmod((a / "d/f").c_str(), 0600);
    symlink("d/f", (a / "l").c_str());
    UniqueFd fa = open_root(a.path()), fb = open_root(b.path());
    REQUIRE(copy_tree(fa.get(), fb.get()));
    CHECK(read_file(b / "d/f") == "x");
    struct stat st;
    REQUIRE(stat((b / "d/f").c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);
    char buf[16] = {};
    CHECK(readlink((b / "l").c_str(), buf, sizeof buf - 1) == 3);
    CHECK(std::string(buf) == "d/f");
}

TEST_CASE("chmod refuses a hard-linked file: its other names may be outside the tree") {
    TempDir root, outside;
    write_file(outside / "secret", "s");
    chmod((outside / "secret").c_str(), 0600);
    REQUIRE(link((outside / "secret").c_str(), (root / "linked").c_str()) == 0);
    write_file(root / "plain", "p");
    UniqueFd fd = open_root(root.path());
    errno = 0;
    CHECK_FALSE(set_mode_beneath(fd.get(), "linked", 0666));
    CHECK(errno == EMLINK);
    struct stat st;
    REQUIRE(stat((outside / "secret").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0600);
    CHECK(set_mode_beneath(fd.get(), "plain", 0640));
    REQUIRE(stat((root / "plain").c_str(), &st) == 0);
    CHECK((st.st_mode & 07777) == 0640);
}

TEST_CASE("fsync_tree walks files and directories and fails on what it cannot sync") {
    TempDir root;
    mkdir((root / "d").c_str(), 0755);
    mkdir((root / "d/e").c_str(), 0755);
    write_file(root / "d/e/f", "x");
    write_file(root / "g", "y");
    REQUIRE(symlink("/nonexistent", (root / "l").c_str()) == 0);
    UniqueFd fd = open_root(root.path());
    CHECK(fsync_tree(fd.get()));
    CHECK_FALSE(fsync_tree(-1));
}

TEST_CASE("clear_dir empties a directory without following a symlink out of it") {
    TempDir root, outside;
    write_file(outside / "keep", "k");
    mkdir((root / "d").c_str(), 0755);
    write_file(root / "d/f", "x");
    REQUIRE(symlink(outside.path().c_str(), (root / "out").c_str()) == 0);
    UniqueFd fd = open_root(root.path());
    CHECK(clear_dir(fd.get()));
    CHECK(entries_in(root.path()) == 0);
    CHECK(exists(outside / "keep"));
}

TEST_CASE("give_tree_to changes owners beneath the root only, never through a link") {
    if (geteuid() != 0) {
        WARN("not root: chown not testable");
        return;
    }
    const uid_t uid = 65534;
    const gid_t gid = 65534;
    TempDir root, outside;
    write_file(outside / "target", "t");
    write_file(outside / "linked", "l");
    mkdir((root / "d").c_str(), 0755);
    write_file(root / "d/f", "x");
    REQUIRE(symlink((outside / "target").c_str(), (root / "d/sym").c_str()) == 0);
    REQUIRE(symlink(outside.path().c_str(), (root / "dirsym").c_str()) == 0);
    REQUIRE(link((outside / "linked").c_str(), (root / "hard").c_str()) == 0);
    UniqueFd fd = open_root(root.path());
    OwnershipChange c = give_tree_to(fd.get(), uid, gid);
    REQUIRE(c.ok);
    CHECK(c.skipped == 1);
    CHECK(c.changed == 5);  // root, d, d/f, d/sym, dirsym
    struct stat st;
    for (const char* rel : {"", "d", "d/f", "d/sym", "dirsym"}) {
        INFO(rel);
        REQUIRE(lstat((root / rel).c_str(), &st) == 0);
        CHECK(st.st_uid == uid);
        CHECK(st.st_gid == gid);
    }
    for (const char* rel : {"target", "linked", ""}) {
        INFO(rel);
        REQUIRE(lstat((outside / rel).c_str(), &st) == 0);
        CHECK(st.st_uid == 0);
    }
    CHECK(give_tree_to(fd.get(), uid, gid).changed == 0);  // once: nothing left to change
}

TEST_CASE("give_tree_to leaves the paths the caller keeps (a source's excludes) as they are") {
    if (geteuid() != 0) {
        WARN("not root: chown not testable");
        return;
    }
    TempDir root;
    mkdir((root / "keep").c_str(), 0755);
    write_file(root / "keep/inner", "i");
    write_file(root / "local.secret", "s");
    write_file(root / "synced", "x");
    UniqueFd fd = open_root(root.path());
    OwnershipChange c = give_tree_to(fd.get(), 65534, 65534, [](const std::string& rel) {
        return rel == "keep" || rel == "local.secret";
    });
    REQUIRE(c.ok);
    struct stat st;
    for (const char* rel : {"keep", "keep/inner", "local.secret"}) {
        INFO(rel);
        REQUIRE(lstat((root / rel).c_str(), &st) == 0);
        CHECK(st.st_uid == 0);
    }
    REQUIRE(lstat((root / "synced").c_str(), &st) == 0);
    CHECK(st.st_uid == 65534);
}
