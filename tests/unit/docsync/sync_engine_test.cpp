#include "sync_engine.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <random>

#include "block_index.h"
#include "crypto.h"
#include "export_service.h"
#include "path_policy.h"
#include "request_auth.h"
#include "safe_fs.h"
#include "test_support.h"

using namespace docsync;
using docsync_test::exists;
using docsync_test::read_file;
using docsync_test::TempDir;
using docsync_test::write_file;

namespace {

// Serves from a local directory through the same functions the httpd handler uses.
class LocalTransport : public Transport {
  public:
    explicit LocalTransport(const std::string& root) : root_(open_root(root)), path_(root) {}
    // With `parallel` set, a second transport like this one (counted in `parallel_made`).
    std::unique_ptr<Transport> parallel_transport() override {
        if (!parallel) return nullptr;
        ++parallel_made;
        auto t = std::make_unique<LocalTransport>(path_);
        t->count_batches_in = &batches_by_second;
        return t;
    }
    void add_counts(std::uint64_t received, std::uint64_t sent) override {
        received_ += received;
        sent_ += sent;
    }
    bool parallel = false;
    int parallel_made = 0;
    int batches_by_second = 0;
    int* count_batches_in = nullptr;  // a second transport counts its batches in its first
    // Answers go through the same authenticated frames as over HTTP.
    bool fetch_files(const std::vector<std::string>& paths, BatchDecoder& decoder,
                     std::string* error) override {
        ++batches;
        if (count_batches_in) ++*count_batches_in;
        std::vector<std::string> parsed;
        if (!parse_batch_request(serialise_batch_request(paths), &parsed, error)) return false;
        const std::string nonce = random_hex(kNonceBytes), tag = signer_->tag("answer");
        FrameReader reader(*verifier_, nonce, tag, decoder);
        FrameWriter writer(*signer_, nonce, tag, [&](const char* p, std::size_t n) {
            received_ += n;
            if (corrupt_batches) {
                std::string bad(p, n);
                for (auto& c : bad) c ^= 1;
                return reader.feed(bad.data(), bad.size());
            }
            return reader.feed(p, n);
        });
        return serve_batch(root_.get(), parsed, nullptr, writer) && reader.finished();
    }
    bool fetch_delta(const std::string& path, const std::string& signature, const ByteSink& sink,
                     std::string* error) override {
        ++deltas;
        sent_ += signature.size();
        const std::string nonce = random_hex(kNonceBytes), tag = signer_->tag("answer");
        DataFrameSink data(sink);
        FrameReader reader(*verifier_, nonce, tag, data);
        FrameWriter writer(*signer_, nonce, tag, [&](const char* p, std::size_t n) {
            received_ += n;
            return reader.feed(p, n);
        });
        FramedByteSink frames(writer);
        return serve_delta(root_.get(), path, signature, frames.sink(), error) ==
                   ServeStatus::kOk &&
               frames.finish() && reader.finished();
    }
    // Answers from `block_indexes` when set, as the handler does (else: unknown basis).
    BasisDelta fetch_delta_from_basis(const std::string& path, const std::string& basis_sha256,
                                      const ByteSink& sink, std::string* error) override {
        ++basis_deltas;
        BlockDeltaSource source;
        if (!block_indexes || prepare_block_delta(root_.get(), *block_indexes, path, basis_sha256,
                                                  &source, error) != ServeStatus::kOk)
            return BasisDelta::unknown_basis;
        const std::string nonce = random_hex(kNonceBytes), tag = signer_->tag("answer");
        DataFrameSink data(sink);
        FrameReader reader(*verifier_, nonce, tag, data);
        FrameWriter writer(*signer_, nonce, tag, [&](const char* p, std::size_t n) {
            received_ += n;
            if (!corrupt_block_deltas) return reader.feed(p, n);
            return ok_after_tampering(reader, p, n);
        });
        FramedByteSink frames(writer);
        bool ok = write_block_delta(*source.basis, *source.current, source.fd.get(), frames.sink(),
                                    error) &&
                  frames.finish() && reader.finished();
        return ok ? BasisDelta::served : BasisDelta::failed;
    }
    std::uint64_t bytes_received() const override { return received_; }
    std::uint64_t bytes_sent() const override { return sent_; }
    int batches = 0, deltas = 0, basis_deltas = 0;
    bool corrupt_batches = false;
    bool corrupt_block_deltas = false;  // flip a bit of the answer: its frame tag must refuse it
    const BlockIndexStore* block_indexes = nullptr;

  private:
    static bool ok_after_tampering(FrameReader& reader, const char* p, std::size_t n) {
        std::string bad(p, n);
        bad[n / 2] ^= 1;
        return reader.feed(bad.data(), bad.size());
    }
    std::unique_ptr<AnswerSigner> signer_ = hmac_answer_signer("unit-test-secret-0123456789");
    std::unique_ptr<AnswerVerifier> verifier_ = hmac_answer_verifier("unit-test-secret-0123456789");
    UniqueFd root_;
    std::string path_;
    std::uint64_t received_ = 0, sent_ = 0;
};

// The primary's scan with block indexes, as ExportState::rescan does it.
Manifest index_export(const std::string& dir, HashCache& cache, BlockIndexStore& store) {
    ScanOptions options;
    options.on_block_index = [&](const std::string& path, BlockIndex i) {
        store.put(path, std::move(i));
    };
    UniqueFd fd = open_root(dir);
    return scan_tree(fd.get(), cache, options).manifest;
}

Manifest manifest_of(const std::string& dir) {
    HashCache cache;
    UniqueFd fd = open_root(dir);
    return scan_tree(fd.get(), cache).manifest;
}

}  // namespace

TEST_CASE("a round makes the local tree identical to the export, then changes follow") {
    TempDir primary, secondary;
    mkdir((primary / "sub").c_str(), 0750);
    write_file(primary / "index.html", "<h1>hello</h1>");
    write_file(primary / "sub/page.html", "page");
    chmod((primary / "sub/page.html").c_str(), 0600);
    symlink("sub/page.html", (primary / "latest").c_str());
    std::mt19937_64 rng(9);
    std::string big = docsync_test::random_bytes(rng, 2u << 20);
    write_file(primary / "big.bin", big);

    SourceOptions source;
    source.local_dir = secondary / "copy";
    HashCache cache;
    LocalTransport transport(primary.path());
    auto r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    REQUIRE(r.complete);
    CHECK(r.changed);
    CHECK(manifest_of(source.local_dir) == manifest_of(primary.path()));

    // Edit, add, delete, rename, chmod, retarget a symlink; 1-byte change in the big file.
    big[1'000'000] ^= 1;
    write_file(primary / "big.bin", big);
    write_file(primary / "new.txt", "new");
    unlink((primary / "index.html").c_str());
    rename((primary / "sub/page.html").c_str(), (primary / "sub/renamed.html").c_str());
    chmod((primary / "sub").c_str(), 0700);
    unlink((primary / "latest").c_str());
    symlink("sub/renamed.html", (primary / "latest").c_str());
    std::uint64_t before = transport.bytes_received();
    auto r2 = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    REQUIRE(r2.complete);
    CHECK(manifest_of(source.local_dir) == manifest_of(primary.path()));
    CHECK(r2.stats.renamed == 1);
    CHECK(r2.stats.files_by_delta == 1);
    CHECK(transport.bytes_received() - before < 64 * 1024);
    CHECK(r2.stats.bytes_saved_by_delta > big.size() - 64 * 1024);

    // Files the round wrote went into the hash cache with their verified hash: the next local
    // scan reads none of them (only the renamed file, whose mtime was set afterwards).
    std::uint64_t hashed = cache.bytes_hashed;
    auto r3 = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    CHECK_FALSE(r3.changed);
    CHECK(cache.bytes_hashed - hashed <= 4);
}

TEST_CASE("content that fails verification leaves the old file and no temp file") {
    TempDir primary, secondary;
    write_file(primary / "a", "new content");
    mkdir((secondary / "copy").c_str(), 0755);
    write_file(secondary / "copy/a", "old");
    SourceOptions source;
    source.local_dir = secondary / "copy";
    HashCache cache;
    LocalTransport transport(primary.path());
    transport.corrupt_batches = true;
    auto r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    CHECK_FALSE(r.complete);
    CHECK(read_file(secondary / "copy/a") == "old");
    CHECK(manifest_of(source.local_dir).size() == 1);
}

TEST_CASE("a restart=graceful source swaps in a batch only after the check accepts it") {
    TempDir primary, secondary;
    write_file(primary / "common.conf", "Good 1\n");
    write_file(primary / "other.conf", "x\n");
    SourceOptions source;
    source.local_dir = secondary / "conf";
    source.restart_graceful = true;
    HashCache cache;
    LocalTransport transport(primary.path());
    std::string seen_staging;
    ConfigCheck check = [&](const std::string& staging, std::string* output) {
        seen_staging = staging;
        std::string content = read_file(staging + "/common.conf");
        *output = "syntax error in common.conf";
        return content.find("Bad") == std::string::npos;
    };
    auto r = sync_round(source, manifest_of(primary.path()), cache, transport, check);
    REQUIRE(r.complete);
    CHECK(r.restart_needed);
    CHECK(seen_staging == staging_dir_for(source.local_dir));
    CHECK(read_file(secondary / "conf/common.conf") == "Good 1\n");

    write_file(primary / "common.conf", "Bad directive\n");
    write_file(primary / "other.conf", "y\n");
    auto r2 = sync_round(source, manifest_of(primary.path()), cache, transport, check);
    CHECK(r2.config_rejected);
    CHECK_FALSE(r2.restart_needed);
    CHECK(r2.check_output == "syntax error in common.conf");
    // Nothing of the rejected batch is visible, not even the file that was fine.
    CHECK(read_file(secondary / "conf/common.conf") == "Good 1\n");
    CHECK(read_file(secondary / "conf/other.conf") == "x\n");

    write_file(primary / "common.conf", "Good 2\n");
    auto r3 = sync_round(source, manifest_of(primary.path()), cache, transport, check);
    CHECK(r3.restart_needed);
    CHECK(read_file(secondary / "conf/common.conf") == "Good 2\n");
    CHECK(read_file(secondary / "conf/other.conf") == "y\n");
}

TEST_CASE("a restart=graceful round refills an existing staging dir and lets the caller swap") {
    TempDir primary, secondary;
    write_file(primary / "common.conf", "Good 1\n");
    SourceOptions source;
    source.local_dir = secondary / "conf";
    source.restart_graceful = true;
    // Prepared by the privileged helper, with leftovers of an earlier round.
    mkdir(source.local_dir.c_str(), 0755);
    const std::string staging = staging_dir_for(source.local_dir);
    mkdir(staging.c_str(), 0700);
    write_file(staging + "/stale.conf", "Stale\n");
    HashCache cache;
    LocalTransport transport(primary.path());
    int swaps = 0;
    StageSwap refuse = [&](std::string* error) {
        ++swaps;
        *error = "refused by test";
        return false;
    };
    auto r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr, refuse);
    CHECK(swaps == 1);
    CHECK_FALSE(r.complete);
    CHECK_FALSE(r.restart_needed);
    REQUIRE_FALSE(r.errors.empty());
    CHECK(r.errors[0].find("refused by test") != std::string::npos);
    CHECK_FALSE(exists(secondary / "conf/common.conf"));  // live untouched
    CHECK_FALSE(exists(staging + "/stale.conf"));         // the staging dir was emptied
    CHECK(read_file(staging + "/common.conf") == "Good 1\n");

    StageSwap exchange = [&](std::string* error) {
        ++swaps;
        bool ok = renameat2(AT_FDCWD, staging.c_str(), AT_FDCWD, source.local_dir.c_str(),
                            RENAME_EXCHANGE) == 0;
        if (!ok) *error = "exchange failed";
        return ok;
    };
    auto r2 = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr, exchange);
    CHECK(swaps == 2);
    CHECK(r2.restart_needed);
    CHECK(read_file(secondary / "conf/common.conf") == "Good 1\n");
}

TEST_CASE("a hostile export cannot make the secondary write outside its directory") {
    TempDir primary, secondary, outside;
    SourceOptions source;
    source.local_dir = secondary / "copy";
    mkdir(source.local_dir.c_str(), 0755);
    // A local symlink planted in the tree (e.g. by an earlier, unsafe configuration).
    symlink(outside.path().c_str(), (secondary / "copy/evil").c_str());
    // The remote claims "evil" is a directory with a file below it.
    write_file(primary / "payload", "pwned");
    Manifest remote = manifest_of(primary.path());
    Entry dir;
    dir.type = EntryType::kDir;
    dir.mode = 0755;
    Manifest hostile;
    hostile["evil"] = dir;
    hostile["evil/payload"] = remote["payload"];
    hostile["abs"] = Entry{EntryType::kSymlink, 0777, 11, 0, "", "/etc/passwd"};
    HashCache cache;
    LocalTransport transport(primary.path());
    // serve "evil/payload" from the primary's "payload": rename the file there to match
    mkdir((primary / "evil").c_str(), 0755);
    rename((primary / "payload").c_str(), (primary / "evil/payload").c_str());
    auto r = sync_round(source, hostile, cache, transport, nullptr);
    CHECK_FALSE(exists(outside / "payload"));
    CHECK_FALSE(exists(secondary / "copy/abs"));
    // The symlink itself was replaced by a real directory (type change), never followed.
    struct stat st;
    REQUIRE(lstat((secondary / "copy/evil").c_str(), &st) == 0);
    CHECK(S_ISDIR(st.st_mode));
    CHECK(read_file(secondary / "copy/evil/payload") == "pwned");
}

TEST_CASE("staging and state directories inside a tree are neither published nor deleted") {
    // A source synced into a subdirectory of an exported (or another source's) tree keeps its
    // .docsync-stage.<name> and .docsync-state.<name> beside itself, i.e. inside that tree.
    TempDir primary, secondary;
    write_file(primary / "index.html", "index");
    mkdir((primary / ".docsync-state.sub").c_str(), 0700);
    write_file(primary / ".docsync-state.sub/version", "docsync-version 1\nu\n5\n");
    mkdir((primary / ".docsync-stage.sub").c_str(), 0700);
    write_file(primary / ".docsync-stage.sub/page.html", "staged");
    HashCache scan_cache;
    UniqueFd fd = open_root(primary.path());
    ScanResult scanned = scan_tree(fd.get(), scan_cache);
    REQUIRE(scanned.ok());
    CHECK(scanned.manifest.size() == 1);
    CHECK(scanned.skipped.empty());  // not content, so not a skipped entry to warn about

    SourceOptions source;
    source.local_dir = secondary / "copy";
    source.delete_extraneous = true;
    mkdir(source.local_dir.c_str(), 0755);
    mkdir((secondary / "copy/.docsync-state.inner").c_str(), 0700);
    write_file(secondary / "copy/.docsync-state.inner/version", "docsync-version 1\nu\n7\n");
    HashCache cache;
    LocalTransport transport(primary.path());
    auto r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    REQUIRE(r.complete);
    CHECK(read_file(secondary / "copy/index.html") == "index");
    CHECK(exists(secondary / "copy/.docsync-state.inner/version"));
    CHECK_FALSE(exists(secondary / "copy/.docsync-state.sub"));
    CHECK_FALSE(exists(secondary / "copy/.docsync-stage.sub"));
}

namespace {
std::string file_mode(const std::string& path) {
    struct stat st;
    if (lstat(path.c_str(), &st) != 0) return "missing";
    char buf[16];
    std::snprintf(buf, sizeof buf, "%o", st.st_mode & 07777);
    return buf;
}
}  // namespace

TEST_CASE("a round over max-delete, max-files or max-bytes applies nothing") {
    TempDir primary, secondary;
    SourceOptions source;
    source.local_dir = secondary / "copy";
    mkdir(source.local_dir.c_str(), 0755);
    for (int i = 0; i < 6; ++i) {
        write_file(secondary / ("copy/old" + std::to_string(i)), "old");
    }
    write_file(primary / "new.txt", std::string(1000, 'n'));
    write_file(primary / "new2.txt", "2");
    HashCache cache;
    LocalTransport transport(primary.path());
    const Manifest local_before = manifest_of(source.local_dir);

    source.limits.max_delete_count = 5;
    auto r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    CHECK(r.limit_exceeded.find("max-delete=5") != std::string::npos);
    CHECK_FALSE(r.changed);
    CHECK(manifest_of(source.local_dir) == local_before);
    CHECK(transport.batches == 0);

    source.limits.max_delete_count = 6;
    source.limits.max_files = 1;
    r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    CHECK(r.limit_exceeded.find("max-files=1") != std::string::npos);
    CHECK(manifest_of(source.local_dir) == local_before);

    source.limits.max_files = 2;
    source.limits.max_bytes = 1000;
    r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    CHECK(r.limit_exceeded.find("max-bytes=1000") != std::string::npos);
    CHECK(manifest_of(source.local_dir) == local_before);
    CHECK(transport.batches == 0);

    source.limits.max_bytes = 1001;
    r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    CHECK(r.limit_exceeded.empty());
    CHECK(r.complete);
    CHECK(manifest_of(source.local_dir) == manifest_of(primary.path()));
}

TEST_CASE("an empty manifest does not wipe a restart=graceful source") {
    TempDir primary, secondary;
    std::string error;
    SourceOptions source;
    REQUIRE(parse_source_args({"http://p/.docsync/conf", secondary / "conf", "restart=graceful"},
                              &source, &error));
    mkdir(source.local_dir.c_str(), 0755);
    write_file(secondary / "conf/a.conf", "A\n");
    write_file(secondary / "conf/b.conf", "B\n");
    HashCache cache;
    LocalTransport transport(primary.path());
    bool checked = false;
    ConfigCheck check = [&](const std::string&, std::string*) { return checked = true; };
    // IncludeOptional conf/*.conf would accept the empty directory: the check never runs.
    auto r = sync_round(source, Manifest{}, cache, transport, check);
    CHECK(r.limit_exceeded.find("empty manifest") != std::string::npos);
    CHECK_FALSE(r.restart_needed);
    CHECK_FALSE(checked);
    CHECK(read_file(secondary / "conf/a.conf") == "A\n");
    CHECK(read_file(secondary / "conf/b.conf") == "B\n");
    CHECK_FALSE(exists(staging_dir_for(source.local_dir)));
    // Said explicitly, it is applied.
    source.limits.refuse_empty_manifest = false;
    r = sync_round(source, Manifest{}, cache, transport, check);
    CHECK(r.limit_exceeded.empty());
    CHECK(r.restart_needed);
    CHECK_FALSE(exists(secondary / "conf/a.conf"));
}

TEST_CASE("world-writable modes are not mirrored; group write only outside a config tree") {
    TempDir primary, secondary;
    mkdir((primary / "d").c_str(), 0777);
    chmod((primary / "d").c_str(), 0777);
    write_file(primary / "d/f.conf", "x\n");
    chmod((primary / "d/f.conf").c_str(), 0666);
    for (bool graceful : {false, true}) {
        SourceOptions source;
        source.local_dir = secondary / (graceful ? "conf" : "htdocs");
        source.restart_graceful = graceful;
        HashCache cache;
        LocalTransport transport(primary.path());
        auto r = sync_round(source, manifest_of(primary.path()), cache, transport,
                            [](const std::string&, std::string*) { return true; });
        REQUIRE(r.complete);
        CHECK(file_mode(source.local_dir + "/d") == (graceful ? "755" : "775"));
        CHECK(file_mode(source.local_dir + "/d/f.conf") == (graceful ? "644" : "664"));
        // The next round finds nothing to do (no chmod back and forth).
        CHECK_FALSE(sync_round(source, manifest_of(primary.path()), cache, transport,
                               [](const std::string&, std::string*) { return true; })
                        .changed);
    }
}

TEST_CASE("no librsync signature of a file the primary never had is sent") {
    TempDir primary, secondary;
    std::mt19937_64 rng(5);
    SourceOptions source;
    source.local_dir = secondary / "copy";
    source.delete_extraneous = false;
    mkdir(source.local_dir.c_str(), 0755);
    // A file only the secondary has (delete=off keeps it), big enough for a delta.
    const std::string secret = docsync_test::random_bytes(rng, 64 * 1024);
    write_file(secondary / "copy/local.bin", secret);
    HashCache cache;
    LocalTransport transport(primary.path());
    REQUIRE(sync_round(source, manifest_of(primary.path()), cache, transport, nullptr).complete);
    // Now the primary publishes a file at that path: fetched whole, the local one unsent.
    std::string theirs = secret;
    theirs[100] ^= 1;
    write_file(primary / "local.bin", theirs);
    auto r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    REQUIRE(r.complete);
    CHECK(transport.deltas == 0);
    CHECK(transport.bytes_sent() == 0);
    CHECK(read_file(secondary / "copy/local.bin") == theirs);
    // Content that came from the primary is a basis the next time it changes.
    theirs[200] ^= 1;
    write_file(primary / "local.bin", theirs);
    r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    REQUIRE(r.complete);
    CHECK(transport.deltas == 1);
    CHECK(read_file(secondary / "copy/local.bin") == theirs);
}

TEST_CASE("batch requests are split by bytes to stay within the primary's body limit") {
    // Long names of escaped characters: 400 paths of ~11 KiB each (encoded) are ~4.5 MiB.
    TempDir primary, secondary;
    std::string dir, path;
    const std::string component(250, ' ');
    for (int i = 0; i < 14; ++i) {
        dir += (i ? "/" : "") + component + std::to_string(i);
        mkdir((primary / dir).c_str(), 0755);
    }
    for (int i = 0; i < 400; ++i) write_file(primary / (dir + "/" + std::to_string(i)), "x");
    SourceOptions source;
    source.local_dir = secondary / "copy";
    HashCache cache;
    LocalTransport transport(primary.path());
    auto r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    INFO((r.errors.empty() ? "" : r.errors[0]));
    CHECK(r.complete);
    CHECK(transport.batches >= 2);
    CHECK(r.stats.files_fetched == 400);

    BatchBudget budget;
    std::vector<std::string> paths;
    const std::string long_path = dir + "/some file";
    while (budget.fits(long_path, 1)) {
        budget.add(long_path, 1);
        paths.push_back(long_path);
    }
    CHECK(paths.size() < kMaxBatchPaths);
    CHECK(serialise_batch_request(paths).size() == budget.request_bytes());
    CHECK(budget.request_bytes() <= kMaxBatchRequestBytes);
    CHECK(budget.request_bytes() + percent_encode(long_path).size() + 1 > kMaxBatchRequestBytes);
}

TEST_CASE("a round past its round-timeout stops before the next action") {
    TempDir primary, secondary;
    write_file(primary / "a", "a");
    write_file(primary / "b", "b");
    mkdir((secondary / "copy").c_str(), 0755);
    LocalTransport transport(primary.path());
    Plan plan = make_plan({}, manifest_of(primary.path()), {});
    UniqueFd root = open_root(secondary / "copy");
    auto r = apply_plan(plan, root.get(), transport, nullptr,
                        std::chrono::steady_clock::now() - std::chrono::seconds(1));
    CHECK_FALSE(r.complete);
    REQUIRE_FALSE(r.errors.empty());
    CHECK(r.errors[0].find("round-timeout") != std::string::npos);
    CHECK(transport.batches == 0);
    CHECK(manifest_of(secondary / "copy").empty());
}

TEST_CASE("a change is answered from the primary's block indexes without a signature") {
    TempDir primary, secondary;
    std::mt19937_64 rng(12);
    std::string big = docsync_test::random_bytes(rng, 1u << 20);
    write_file(primary / "big.bin", big);
    SourceOptions source;
    source.local_dir = secondary / "copy";
    HashCache cache, primary_cache;
    BlockIndexStore store;
    LocalTransport transport(primary.path());
    transport.block_indexes = &store;
    REQUIRE(sync_round(source, index_export(primary.path(), primary_cache, store), cache, transport,
                       nullptr)
                .complete);

    big[500'000] ^= 1;
    write_file(primary / "big.bin", big);
    const std::uint64_t sent = transport.bytes_sent(), received = transport.bytes_received();
    SECTION("the delta is the changed block") {
        auto r = sync_round(source, index_export(primary.path(), primary_cache, store), cache,
                            transport, nullptr);
        REQUIRE(r.complete);
        CHECK(r.stats.files_by_delta == 1);
        CHECK(transport.basis_deltas == 1);
        CHECK(transport.deltas == 0);  // no signature sent
        CHECK(transport.bytes_sent() == sent);
        CHECK(transport.bytes_received() - received < 2 * kIndexBlockBytes);
        CHECK(read_file(secondary / "copy/big.bin") == big);
    }
    SECTION("a tampered answer is refused, then the signature path is taken") {
        transport.corrupt_block_deltas = true;
        auto r = sync_round(source, index_export(primary.path(), primary_cache, store), cache,
                            transport, nullptr);
        REQUIRE(r.complete);
        CHECK(transport.basis_deltas == 1);
        CHECK(transport.deltas == 1);
        CHECK(read_file(secondary / "copy/big.bin") == big);
    }
    SECTION("an index that does not describe the content fails the hash check, then a signature") {
        // The primary's store claims the old digests for the new content: its delta copies the
        // stale block, the SHA-256 check refuses the result.
        BlockIndexStore lying;
        std::string old = big;
        old[500'000] ^= 1;
        BlockHasher h;
        h.update(old.data(), old.size());
        auto blocks = h.finish();
        lying.put("big.bin", BlockIndex{sha256_hex(old), old.size(), 0, blocks});
        struct stat st;
        REQUIRE(::stat((primary / "big.bin").c_str(), &st) == 0);
        blocks[0] ^= 1;  // make one block differ, so the answer is not empty
        lying.put("big.bin",
                  BlockIndex{sha256_hex(big), big.size(),
                             static_cast<std::int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 +
                                 st.st_mtim.tv_nsec,
                             blocks, static_cast<std::uint64_t>(st.st_ino)});
        transport.block_indexes = &lying;
        Manifest m = index_export(primary.path(), primary_cache, store);
        auto r = sync_round(source, m, cache, transport, nullptr);
        REQUIRE(r.complete);
        CHECK(transport.basis_deltas == 1);
        CHECK(transport.deltas == 1);
        CHECK(read_file(secondary / "copy/big.bin") == big);
    }
}

TEST_CASE("a delta round looks only at the paths the delta names and ends identical") {
    TempDir primary, secondary;
    auto sh = [&](const std::string& command) {
        REQUIRE(std::system(("cd '" + primary.path() + "' && " + command).c_str()) == 0);
    };
    sh("mkdir -p a/sub b/gone && echo x > a/x && echo y > a/sub/y && echo g > b/gone/g && "
       "echo keep > b/keep && mkdir c && for i in $(seq 40); do echo $i > c/$i; done");
    std::mt19937_64 rng(12);
    std::string big = docsync_test::random_bytes(rng, 1u << 20);
    write_file(primary / "big.bin", big);
    SourceOptions source;
    source.local_dir = secondary / "copy";
    HashCache cache;
    LocalTransport transport(primary.path());
    Manifest base = manifest_of(primary.path());
    REQUIRE(sync_round(source, base, cache, transport, nullptr).complete);

    // A local change the primary does not know about, to a path no delta below names.
    write_file(source.local_dir + "/b/keep", "local edit");
    // New file in a subdirectory, a new directory, a removed subtree, a rename, a changed big
    // file (by delta), a file that becomes a directory.
    sh("echo new > a/sub/new && mkdir -p n/m && echo deep > n/m/f && rm -r b/gone && "
       "mv a/x a/x-renamed && rm a/sub/y && mkdir a/sub/y && echo in > a/sub/y/in");
    big[500'000] ^= 1;
    write_file(primary / "big.bin", big);
    Manifest next = manifest_of(primary.path());
    ManifestChanges delta = manifest_changes(base, next, manifest_etag(base));
    RoundScope scope;
    scope.base_entries = base.size();
    for (const auto& kv : delta.changed) scope.paths.push_back(kv.first);
    scope.paths.insert(scope.paths.end(), delta.removed.begin(), delta.removed.end());
    REQUIRE(scope.paths.size() < next.size());

    const std::uint64_t hashed = cache.bytes_hashed;
    auto r = sync_round(source, next, cache, transport, nullptr, {}, &scope);
    REQUIRE(r.complete);
    CHECK(r.stats.renamed == 1);
    CHECK(r.stats.files_by_delta == 1);
    CHECK(cache.bytes_hashed == hashed);  // the local big file's hash came from the cache
    Manifest local = manifest_of(source.local_dir);
    CHECK(docsync_test::read_file(source.local_dir + "/b/keep") == "local edit");  // not named
    local.erase("b/keep");
    Manifest want = next;
    want.erase("b/keep");
    CHECK(local == want);  // everything else, directory mtimes and modes included

    // A full round corrects what the scoped one did not look at.
    REQUIRE(sync_round(source, next, cache, transport, nullptr).complete);
    CHECK(manifest_of(source.local_dir) == next);
}

TEST_CASE("a round of many files fetches its batches on two connections at once") {
    TempDir primary, secondary;
    REQUIRE(std::system(("cd '" + primary.path() +
                         "' && for d in $(seq 10); do mkdir d$d; for f in $(seq 250); do "
                         "echo $d-$f > d$d/f$f; done; done")
                            .c_str()) == 0);
    SourceOptions source;
    source.local_dir = secondary / "copy";
    HashCache cache;
    LocalTransport transport(primary.path());
    transport.parallel = true;
    auto r = sync_round(source, manifest_of(primary.path()), cache, transport, nullptr);
    REQUIRE(r.complete);
    CHECK(r.stats.files_fetched == 2500);
    CHECK(transport.parallel_made == 1);
    CHECK(manifest_of(source.local_dir) == manifest_of(primary.path()));
    // Both connections carried batches, and the second one's bytes are counted.
    CHECK(transport.batches >= 1);
    CHECK(transport.batches_by_second >= 1);
    std::uint64_t content = 0;
    for (const auto& [path, e] : manifest_of(primary.path())) content += e.size;
    CHECK(transport.bytes_received() >= content);
    // Every file went into the cache with its verified hash: a second round reads nothing.
    const std::uint64_t hashed = cache.bytes_hashed;
    CHECK_FALSE(sync_round(source, manifest_of(primary.path()), cache, transport, nullptr).changed);
    CHECK(cache.bytes_hashed == hashed);
}
