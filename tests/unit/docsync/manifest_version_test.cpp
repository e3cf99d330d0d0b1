#include "manifest_version.h"

#include <sys/stat.h>

#include <catch2/catch.hpp>

#include "test_support.h"

using namespace docsync;
using docsync_test::exists;
using docsync_test::TempDir;
using docsync_test::write_file;

TEST_CASE("the state file lives in a state directory beside the synced directory, not in it") {
    CHECK(source_state_dir_for("/srv/www/htdocs") == "/srv/www/.docsync-state.htdocs");
    CHECK(version_state_path_for("/srv/www/htdocs") == "/srv/www/.docsync-state.htdocs/version");
    CHECK(version_state_path_for("/etc/apache2/common") ==
          "/etc/apache2/.docsync-state.common/version");
}

TEST_CASE("an older version is refused, also by a new store after a restart") {
    TempDir dir;
    const std::string state = version_state_path_for(dir / "synced");
    // The privileged helper creates the state directory; the store only writes in it.
    REQUIRE(mkdir(source_state_dir_for(dir / "synced").c_str(), 0700) == 0);
    const std::string url = "https://primary/.docsync/docs";
    std::string error;
    {
        VersionStore store(state, url);
        REQUIRE(store.load(&error));  // no file yet: nothing accepted
        std::int64_t v = 0;
        CHECK(store.judge("1000", &v) == VersionVerdict::kAcceptable);
        REQUIRE(store.accept(v, &error));
        CHECK(store.judge("2000", &v) == VersionVerdict::kAcceptable);
        REQUIRE(store.accept(v, &error));
        CHECK(store.judge("1999", &v) == VersionVerdict::kOlder);
        CHECK(store.judge("2000", &v) == VersionVerdict::kAcceptable);  // the same again
        CHECK(store.judge("", &v) == VersionVerdict::kMissing);
        CHECK(store.judge("-5", &v) == VersionVerdict::kMissing);
        CHECK(store.judge("12x", &v) == VersionVerdict::kMissing);
    }
    struct stat st;
    REQUIRE(lstat(state.c_str(), &st) == 0);
    CHECK((st.st_mode & 077) == 0);
    // The sync process restarted: a new store reads the file.
    VersionStore after(state, url);
    REQUIRE(after.load(&error));
    CHECK(after.highest() == 2000);
    std::int64_t v = 0;
    CHECK(after.judge("1500", &v) == VersionVerdict::kOlder);
    CHECK(after.judge("2500", &v) == VersionVerdict::kAcceptable);
    // Another source for the same directory starts afresh.
    VersionStore other(state, "https://elsewhere/.docsync/docs");
    REQUIRE(other.load(&error));
    CHECK(other.highest() == 0);
}

TEST_CASE("a corrupt or symlinked state file is reported, not trusted") {
    TempDir dir;
    const std::string state = dir / "version";
    write_file(state, "garbage\n");
    VersionStore store(state, "u");
    std::string error;
    CHECK_FALSE(store.load(&error));
    CHECK(store.highest() == 0);
    CHECK(error.find("not a docsync version file") != std::string::npos);
    ::unlink(state.c_str());
    write_file(dir / "elsewhere", "docsync-version 1\nu\n99\n");
    REQUIRE(symlink((dir / "elsewhere").c_str(), state.c_str()) == 0);
    CHECK_FALSE(store.load(&error));  // O_NOFOLLOW
    CHECK(exists(state));
}
