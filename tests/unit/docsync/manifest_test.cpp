#include "manifest.h"

#include <catch2/catch.hpp>
#include <random>

#include "crypto.h"
#include "path_policy.h"
#include "test_support.h"

using namespace docsync;

namespace {

Entry file_entry(const std::string& content, std::uint32_t mode = 0644, std::int64_t mtime = 1) {
    Entry e;
    e.type = EntryType::kFile;
    e.mode = mode;
    e.size = content.size();
    e.mtime_ns = mtime;
    e.sha256 = sha256_hex(content);
    return e;
}
Entry dir_entry(std::uint32_t mode = 0755) {
    Entry e;
    e.type = EntryType::kDir;
    e.mode = mode;
    e.mtime_ns = 5;
    return e;
}
Entry link_entry(const std::string& target) {
    Entry e;
    e.type = EntryType::kSymlink;
    e.mode = 0777;
    e.target = target;
    e.size = target.size();
    e.mtime_ns = -7;
    return e;
}

Manifest sample() {
    Manifest m;
    m["conf"] = dir_entry();
    m["conf/httpd.conf"] = file_entry("Listen 80\n", 0640, 1'700'000'000'123'456'789);
    m["conf/sp ace%.txt"] = file_entry("");
    m["htdocs"] = dir_entry(0750);
    m["htdocs/index.html"] = file_entry("<h1>hi</h1>");
    m["htdocs/latest"] = link_entry("index.html");
    m["\xc3\xa9t\xc3\xa9"] = file_entry("utf8");
    return m;
}

}  // namespace

TEST_CASE("a manifest survives serialise and parse unchanged") {
    Manifest m = sample();
    auto parsed = parse_manifest(serialise(m));
    REQUIRE(parsed.ok());
    CHECK_FALSE(parsed.is_delta);
    CHECK(parsed.entries == m);
    CHECK(manifest_etag(parsed.entries) == manifest_etag(m));
}

TEST_CASE("the parser rejects malformed or hostile manifests") {
    std::string good = serialise(sample());
    auto reject = [](const std::string& text) {
        auto p = parse_manifest(text);
        INFO(text.substr(0, 200));
        CHECK_FALSE(p.ok());
        CHECK(p.entries.empty());
    };
    const std::string h(64, 'a');
    reject("");
    reject("DSM2 0\n");
    reject("DSM1 1\n");                          // fewer lines than announced
    reject("DSM1 0\nextra\n");                   // trailing data
    reject("DSM1 0");                            // no final newline
    reject("DSM1 1\nf 644 1 1 " + h + " ..\n");  // dot-dot
    reject("DSM1 1\nf 644 1 1 " + h + " /etc/passwd\n");
    reject("DSM1 1\nf 644 1 1 " + h + " %2Fetc%2Fpasswd\n");  // encoded absolute path
    reject("DSM1 1\nf 644 1 1 " + h + " a%00b\n");            // NUL
    reject("DSM1 1\nf 644 1 1 " + h + " a%2F..%2F..%2Fx\n");
    reject("DSM1 1\nf 644 1 1 " + h + " sub/x\n");                       // parent missing
    reject("DSM1 1\nf 4755 1 1 " + h + " x\n");                          // setuid
    reject("DSM1 1\nf 644 -1 1 " + h + " x\n");                          // negative size
    reject("DSM1 1\nf 644 1 1 " + std::string(64, 'A') + " x\n");        // uppercase hash
    reject("DSM1 1\nf 644 1 1 " + h.substr(1) + " x\n");                 // short hash
    reject("DSM1 2\nf 644 1 1 " + h + " b\nf 644 1 1 " + h + " a\n");    // unsorted
    reject("DSM1 2\nf 644 1 1 " + h + " a\nf 644 1 1 " + h + " a\n");    // duplicate
    reject("DSM1 2\nf 644 1 1 " + h + " a\nf 644 1 1 " + h + " a/b\n");  // parent is a file
    reject("DSM1 1\nl 777 3 1 - x ab\n");                                // target length mismatch
    reject("DSM1 1\nl 777 0 1 - x \n");                                  // empty target
    reject("DSM1 1\nd 755 5 1 - x\n");                                   // directory with a size
    reject("DSM1 1\nf 644 1 1 " + h + " x extra\n");
    reject("DSM1 99999999999\n");  // huge count
    reject("DSM1 1\nf 644 1 1 " + h + " " + std::string(300, 'n') + "\n");
    reject(good.substr(0, good.size() - 1));
}

TEST_CASE("a change list turns the old manifest into the new one") {
    Manifest a = sample();
    Manifest b = a;
    b.erase("\xc3\xa9t\xc3\xa9");
    b["htdocs/new.html"] = file_entry("new");
    b["conf/httpd.conf"] = file_entry("Listen 81\n", 0600);
    std::string etag_a = manifest_etag(a);
    auto text = serialise(manifest_changes(a, b, etag_a));
    auto delta = parse_manifest(text);
    REQUIRE(delta.ok());
    CHECK(delta.is_delta);
    CHECK(delta.base_etag == etag_a);
    CHECK(delta.entries.size() == 2);
    CHECK(delta.removed.size() == 1);
    Manifest applied = a;
    std::string error;
    REQUIRE(apply_changes(applied, delta, &error));
    CHECK(applied == b);
    CHECK(manifest_etag(applied) == manifest_etag(b));
    CHECK(text.size() < serialise(b).size());
}

TEST_CASE("a change list that orphans an entry is refused when applied") {
    Manifest a = sample();
    ParsedManifest delta;
    delta.is_delta = true;
    delta.removed = {"htdocs"};
    std::string error;
    CHECK_FALSE(apply_changes(a, delta, &error));
    CHECK_FALSE(error.empty());

    // Only the touched entries are checked, and each way of breaking the tree is caught: a
    // directory turned into a file with entries below, an entry below a file or a missing
    // directory, a removal that leaves a child.
    auto refused = [](ParsedManifest d) {
        Manifest m = sample();
        std::string why;
        return !apply_changes(m, d, &why) && !why.empty();
    };
    ParsedManifest to_file;
    to_file.entries["conf"] = file_entry("was a directory");
    CHECK(refused(to_file));
    ParsedManifest below_file;
    below_file.entries["htdocs/index.html/x"] = file_entry("x");
    CHECK(refused(below_file));
    ParsedManifest below_missing;
    below_missing.entries["nowhere/x"] = file_entry("x");
    CHECK(refused(below_missing));
    ParsedManifest leaves_child;
    leaves_child.removed = {"htdocs", "htdocs/index.html"};  // htdocs/latest stays
    CHECK(refused(leaves_child));
    // The same changes made whole are accepted and equal what a full check would accept.
    ParsedManifest whole;
    whole.removed = {"htdocs", "htdocs/index.html", "htdocs/latest"};
    whole.entries["conf/new"] = file_entry("new");
    whole.entries["htdocs2"] = dir_entry();
    whole.entries["htdocs2/x"] = file_entry("x");
    Manifest m = sample();
    REQUIRE(apply_changes(m, whole, &error));
    CHECK_FALSE(manifest_problem(m));
    CHECK(m.size() == sample().size() - 3 + 3);
}

TEST_CASE("fuzz: random and mutated input never crashes the manifest parser") {
    std::mt19937_64 rng(12345);
    std::string good = serialise(sample());
    std::string delta = serialise(manifest_changes(sample(), Manifest{}, std::string(64, 'b')));
    const std::string alphabet = "DSM1 \nfdlx-%0123456789abcdef/.\x00\xff";
    for (int i = 0; i < 20000; ++i) {
        std::string input;
        switch (i % 4) {
            case 0:
                input = docsync_test::random_bytes(rng, rng() % 300);
                break;
            case 1:
                for (std::size_t n = rng() % 300; n; --n)
                    input += alphabet[rng() % alphabet.size()];
                break;
            default: {
                input = (i % 4 == 2) ? good : delta;
                for (int k = 0, flips = 1 + rng() % 4; k < flips; ++k) {
                    std::size_t pos = rng() % input.size();
                    switch (rng() % 3) {
                        case 0:
                            input[pos] = static_cast<char>(rng());
                            break;
                        case 1:
                            input.erase(pos, 1 + rng() % 8);
                            break;
                        default:
                            input.insert(pos, 1, alphabet[rng() % alphabet.size()]);
                    }
                }
            }
        }
        auto p = parse_manifest(input);
        if (p.ok() && !p.is_delta) {
            // Whatever is accepted satisfies the invariants every consumer relies on.
            REQUIRE_FALSE(manifest_problem(p.entries));
            for (const auto& [path, e] : p.entries) REQUIRE(is_valid_relative_path(path));
        }
    }
}

TEST_CASE("the ETag, hashed line by line, is the SHA-256 of the serialised manifest") {
    Manifest m;
    for (int i = 0; i < 500; ++i) {
        Entry e;
        e.type = i % 7 == 0 ? EntryType::kSymlink : EntryType::kFile;
        e.mode = 0644;
        e.mtime_ns = 1000 + i;
        if (e.type == EntryType::kSymlink) {
            e.target = "t " + std::to_string(i);
            e.size = e.target.size();
        } else {
            e.sha256 = sha256_hex(std::to_string(i));
            e.size = static_cast<std::uint64_t>(i);
        }
        m["f%" + std::to_string(i)] = e;
    }
    CHECK(manifest_etag(m) == sha256_hex(serialise(m)));
    CHECK(manifest_etag(Manifest{}) == sha256_hex("DSM1 0\n"));
}
