#include "sync_plan.h"

#include <algorithm>
#include <catch2/catch.hpp>

#include "crypto.h"

using namespace docsync;

namespace {
Entry f(const std::string& content, std::uint32_t mode = 0644, std::int64_t mtime = 100) {
    Entry e;
    e.type = EntryType::kFile;
    e.mode = mode;
    e.size = content.size();
    e.mtime_ns = mtime;
    e.sha256 = sha256_hex(content);
    return e;
}
Entry d(std::int64_t mtime = 100, std::uint32_t mode = 0755) {
    Entry e;
    e.type = EntryType::kDir;
    e.mode = mode;
    e.mtime_ns = mtime;
    return e;
}
Entry l(const std::string& target) {
    Entry e;
    e.type = EntryType::kSymlink;
    e.mode = 0777;
    e.target = target;
    e.size = target.size();
    e.mtime_ns = 100;
    return e;
}
std::vector<std::string> kinds(const Plan& p) {
    std::vector<std::string> out;
    for (const auto& a : p.actions) out.push_back(std::string(to_string(a.kind)) + " " + a.path);
    return out;
}
bool has(const Plan& p, ActionKind k, const std::string& path) {
    return std::any_of(p.actions.begin(), p.actions.end(),
                       [&](const Action& a) { return a.kind == k && a.path == path; });
}
PlanOptions keep_options() {
    PlanOptions o;
    o.delete_extraneous = false;
    return o;
}
std::size_t index_of(const Plan& p, ActionKind k, const std::string& path) {
    for (std::size_t i = 0; i < p.actions.size(); ++i)
        if (p.actions[i].kind == k && p.actions[i].path == path) return i;
    return SIZE_MAX;
}
}  // namespace

TEST_CASE("identical trees need no action") {
    Manifest m{{"a", d()}, {"a/x", f("x")}, {"l", l("a/x")}};
    CHECK(make_plan(m, m, {}).empty());
}

TEST_CASE("an empty local tree is created parents first") {
    Manifest remote{{"a", d()}, {"a/b", d()}, {"a/b/x", f("x")}, {"top", f("t")}};
    Plan p = make_plan({}, remote, {});
    INFO(Catch::Detail::stringify(kinds(p)));
    CHECK(index_of(p, ActionKind::kMkdir, "a") < index_of(p, ActionKind::kMkdir, "a/b"));
    CHECK(index_of(p, ActionKind::kMkdir, "a/b") < index_of(p, ActionKind::kFetch, "a/b/x"));
    CHECK(has(p, ActionKind::kFetch, "top"));
    CHECK_FALSE(p.actions[index_of(p, ActionKind::kFetch, "top")].has_basis);
}

TEST_CASE("a changed file is fetched with its local copy as delta basis") {
    Manifest local{{"x", f("old")}};
    Manifest remote{{"x", f("new!")}};
    Plan p = make_plan(local, remote, {});
    REQUIRE(p.count(ActionKind::kFetch) == 1);
    CHECK(p.actions[0].has_basis);
    CHECK(p.actions[0].basis_size == 3);
}

TEST_CASE("mode-only and mtime-only changes transfer nothing") {
    Manifest local{{"x", f("same", 0644, 1)}};
    Manifest remote{{"x", f("same", 0600, 2)}};
    Plan p = make_plan(local, remote, {});
    CHECK(p.count(ActionKind::kFetch) == 0);
    CHECK(has(p, ActionKind::kSetMode, "x"));
    CHECK(has(p, ActionKind::kSetMtime, "x"));
}

TEST_CASE("a rename on the primary becomes a local rename, not a transfer") {
    Manifest local{{"old.html", f("content")}};
    Manifest remote{{"new.html", f("content")}};
    Plan p = make_plan(local, remote, {});
    REQUIRE(p.count(ActionKind::kRename) == 1);
    CHECK(p.count(ActionKind::kFetch) == 0);
    CHECK(p.count(ActionKind::kRemove) == 0);
    CHECK(p.actions[index_of(p, ActionKind::kRename, "new.html")].from == "old.html");
    // With delete=off the old file must stay, so the content is fetched instead.
    Plan keep = make_plan(local, remote, keep_options());
    CHECK(keep.count(ActionKind::kRename) == 0);
    CHECK(keep.count(ActionKind::kFetch) == 1);
    CHECK(keep.count(ActionKind::kRemove) == 0);
}

TEST_CASE("deletions run deepest first and only when enabled") {
    Manifest local{{"gone", d()}, {"gone/sub", d()}, {"gone/sub/f", f("1")}, {"x", f("x")}};
    Manifest remote{{"x", f("x")}};
    Plan p = make_plan(local, remote, {});
    CHECK(kinds(p) == std::vector<std::string>{"remove gone"});
    CHECK(make_plan(local, remote, keep_options()).empty());
}

TEST_CASE("a type change removes the old entry before creating the new one") {
    Manifest local{{"a", f("file")}, {"b", d()}, {"b/inner", f("i")}, {"c", l("x")}};
    Manifest remote{{"a", d()}, {"a/f", f("f")}, {"b", f("now a file")}, {"c", f("c")}};
    Plan p = make_plan(local, remote, {});
    INFO(Catch::Detail::stringify(kinds(p)));
    CHECK(index_of(p, ActionKind::kRemove, "a") < index_of(p, ActionKind::kMkdir, "a"));
    CHECK(index_of(p, ActionKind::kRemove, "b") < index_of(p, ActionKind::kFetch, "b"));
    CHECK(index_of(p, ActionKind::kRemove, "c") < index_of(p, ActionKind::kFetch, "c"));
    CHECK_FALSE(has(p, ActionKind::kRemove, "b/inner"));  // covered by removing b
    CHECK_FALSE(p.actions[index_of(p, ActionKind::kFetch, "b")].has_basis);
}

TEST_CASE("symlinks are created or retargeted; unsafe ones are refused") {
    Manifest local{{"l1", l("a")}};
    Manifest remote{{"l1", l("b")},         {"l2", l("sub/x")}, {"abs", l("/etc/passwd")},
                    {"up", l("../../etc")}, {"d", d()},         {"d/rel", l("../l1")}};
    Plan p = make_plan(local, remote, {});
    CHECK(has(p, ActionKind::kSymlink, "l1"));
    CHECK(has(p, ActionKind::kSymlink, "l2"));
    CHECK(has(p, ActionKind::kSymlink, "d/rel"));
    CHECK_FALSE(has(p, ActionKind::kSymlink, "abs"));
    CHECK_FALSE(has(p, ActionKind::kSymlink, "up"));
    CHECK(p.refused.size() == 2);
}

TEST_CASE("excluded paths are neither fetched nor deleted") {
    Manifest local{{"keep.local", f("mine")}, {"cache", d()}, {"cache/x", f("x")}};
    Manifest remote{{"a.swp", f("swap")}, {"b", f("b")}};
    PlanOptions o;
    o.excludes = {"*.swp", "*.local", "cache"};
    Plan p = make_plan(local, remote, o);
    CHECK(kinds(p) == std::vector<std::string>{"fetch b"});
}

TEST_CASE("directories touched by the plan get their mtime restored last") {
    Manifest local{{"d", d(5)}};
    Manifest remote{{"d", d(5)}, {"d/new", f("n")}};
    Plan p = make_plan(local, remote, {});
    REQUIRE(!p.actions.empty());
    CHECK(p.actions.back().kind == ActionKind::kSetMtime);
    CHECK(p.actions.back().path == "d");
}

TEST_CASE("the plan's totals count deletions with their subtrees, bytes and new entries") {
    Manifest local{{"gone", d()},       {"gone/sub", d()},  {"gone/sub/f", f("1")},
                   {"old", f("moved")}, {"x", f("x")},      {"t", f("type change")},
                   {"u", d()},          {"u/inner", f("i")}};
    Manifest remote{{"x", f("x")},         {"new", f("moved")}, {"fresh", f("12345")}, {"t", d()},
                    {"u", f("was a dir")}, {"nd", d()},         {"ln", l("x")}};
    Plan p = make_plan(local, remote, {});
    // gone, gone/sub, gone/sub/f; t (type change); u and u/inner (type change). "old" is
    // renamed to "new": moved, not deleted.
    CHECK(p.totals.deletions == 6);
    CHECK(p.totals.bytes_to_write == 5 + 9);
    CHECK(p.totals.entries_to_create == 5);  // fresh, u, t, nd, ln
    CHECK(p.totals.local_entries == local.size());
    CHECK(p.totals.remote_entries == remote.size());
    CHECK(make_plan(local, remote, keep_options()).totals.deletions == 3);  // type changes only
}

TEST_CASE("write bits the admin does not want are stripped from the primary's modes") {
    Manifest remote{{"d", d(100, 0777)}, {"d/w", f("w", 0666)}, {"s", f("s", 01777)}};
    PlanOptions o;
    o.strip_mode_bits = 022;
    Plan p = make_plan({}, remote, o);
    for (const auto& a : p.actions) {
        INFO(to_string(a.kind) << " " << a.path);
        CHECK((a.entry.mode & 022) == 0);
    }
    CHECK(p.actions[index_of(p, ActionKind::kFetch, "d/w")].entry.mode == 0644);
    CHECK(p.actions[index_of(p, ActionKind::kSetMode, "d")].entry.mode == 0755);
    // A local file already masked is not chmod-ed back and forth every round.
    Manifest local{{"d", d(100, 0755)}, {"d/w", f("w", 0644)}, {"s", f("s", 01755)}};
    CHECK(make_plan(local, remote, o).empty());
    // Unmasked, a local world-writable file is corrected.
    o.strip_mode_bits = 002;
    Manifest lax{{"d", d(100, 0777)}, {"d/w", f("w", 0666)}, {"s", f("s", 01777)}};
    Plan fix = make_plan(lax, remote, o);
    CHECK(fix.actions[index_of(fix, ActionKind::kSetMode, "d/w")].entry.mode == 0664);
    CHECK(fix.actions[index_of(fix, ActionKind::kSetMode, "d")].entry.mode == 0775);
}

TEST_CASE("a local file the primary never had is not offered as a delta basis") {
    Manifest local{{"mine", f("local only")}, {"theirs", f("old version")}};
    Manifest remote{{"mine", f("primary's")}, {"theirs", f("new version")}};
    PlanOptions o;
    o.may_be_basis = [](const std::string& path, const Entry&) { return path == "theirs"; };
    Plan p = make_plan(local, remote, o);
    CHECK_FALSE(p.actions[index_of(p, ActionKind::kFetch, "mine")].has_basis);
    CHECK(p.actions[index_of(p, ActionKind::kFetch, "theirs")].has_basis);
}
