#include "sync_engine.h"

#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "block_index.h"
#include "crypto.h"
#include "path_policy.h"
#include "safe_fs.h"

namespace docsync {

namespace {

constexpr std::size_t kMaxReportedErrors = 20;
// A run of at least this many files fetched in batches is split between two connections,
// each applied by its own thread: writing many small files is the secondary's bottleneck of
// an initial sync (file creation in the kernel), and the primary serves each in its own child.
constexpr std::size_t kParallelBatchFiles = 2000;
static_assert(kMinIndexedFileBytes == kMinDeltaBytes,
              "the primary indexes exactly the files a secondary fetches by delta");

void add_error(std::vector<std::string>& errors, std::string e) {
    if (errors.size() < kMaxReportedErrors) errors.push_back(std::move(e));
}

// Receives batch frames and writes each file atomically.
class BatchWriter : public BatchSink {
  public:
    BatchWriter(int root_fd, const std::vector<const Action*>& files, ApplyResult& result,
                HashCache* cache, std::mutex* cache_mutex)
        : root_fd_(root_fd),
          files_(files),
          result_(result),
          cache_(cache),
          cache_mutex_(cache_mutex) {}

    bool begin(std::size_t index, std::uint64_t) override {
        current_ = index;
        writer_ = std::make_unique<AtomicFileWriter>(root_fd_, files_[index]->path);
        if (!writer_->ok()) add_error(result_.errors, writer_->error());
        return true;  // keep reading the stream; this file just fails
    }
    bool data(const char* p, std::size_t n) override {
        if (writer_->ok()) writer_->write(p, n);
        return true;
    }
    bool end() override {
        const Entry& e = files_[current_]->entry;
        if (writer_->ok() && writer_->commit(e.size, e.sha256, e.mode, e.mtime_ns)) {
            ++result_.stats.files_fetched;
            result_.stats.file_bytes_written += e.size;
            ++done_;
            if (cache_) {
                std::unique_lock<std::mutex> lock;
                if (cache_mutex_) lock = std::unique_lock<std::mutex>(*cache_mutex_);
                cache_->put(files_[current_]->path, {e.size, e.mtime_ns, writer_->inode()},
                            e.sha256, true);
            }
        } else if (!writer_->error().empty()) {
            add_error(result_.errors, writer_->error());
        }
        writer_.reset();
        return true;
    }
    void unavailable(std::size_t index, const std::string& reason) override {
        add_error(result_.errors, files_[index]->path + ": not served: " + reason);
    }
    std::size_t done() const { return done_; }

  private:
    int root_fd_;
    const std::vector<const Action*>& files_;
    ApplyResult& result_;
    HashCache* cache_;
    std::mutex* cache_mutex_;
    std::size_t current_ = 0;
    std::size_t done_ = 0;
    std::unique_ptr<AtomicFileWriter> writer_;
};

bool fetch_batch(int root_fd, Transport& transport, const std::vector<const Action*>& files,
                 ApplyResult& result, HashCache* cache, std::mutex* cache_mutex = nullptr) {
    if (files.empty()) return true;
    std::vector<std::string> paths;
    std::vector<ExpectedFile> expected;
    for (const Action* a : files) {
        paths.push_back(a->path);
        expected.push_back({a->entry.size, a->entry.sha256});
    }
    BatchWriter writer(root_fd, files, result, cache, cache_mutex);
    BatchDecoder decoder(std::move(expected), writer);
    std::string error;
    bool ok = transport.fetch_files(paths, decoder, &error) && decoder.finished();
    if (!ok)
        add_error(result.errors, "batch of " + std::to_string(files.size()) +
                                     " files: " + (error.empty() ? decoder.error() : error));
    return ok && writer.done() == files.size();
}

// Where a delta comes from: it streams the delta into the sink; true once it is complete.
using DeltaSource = std::function<bool(const ByteSink& sink, std::string* error)>;

struct Patched {
    std::uint64_t delta_bytes = 0;
    std::uint64_t inode = 0;
    std::string error;
};

// Patches the basis with the delta from `source` into a temp file, hashed as it is written, and
// renames it into place only if it has the manifest's size and SHA-256.
bool patch_into_place(int root_fd, const Action& a, int basis_fd, std::uint64_t basis_size,
                      const DeltaSource& source, Patched* out) {
    AtomicFileWriter writer(root_fd, a.path);
    if (!writer.ok()) {
        out->error = writer.error();
        return false;
    }
    PatchStream patch(basis_fd, basis_size, a.entry.size,
                      [&](const char* p, std::size_t n) { return writer.write(p, n); });
    std::string error;
    bool ok = source(
        [&](const char* p, std::size_t n) {
            out->delta_bytes += n;
            return patch.feed(p, n);
        },
        &error);
    ok = ok && patch.finish();
    if (!ok) {
        out->error = a.path + ": delta failed: " + (patch.error().empty() ? error : patch.error());
        return false;
    }
    if (!writer.commit(a.entry.size, a.entry.sha256, a.entry.mode, a.entry.mtime_ns)) {
        out->error = writer.error();
        return false;
    }
    out->inode = writer.inode();
    return true;
}

// First the delta the primary can compute from its block indexes without our signature; when
// it cannot (or its result fails the hash check), the librsync signature of the basis.
bool fetch_by_delta(int root_fd, Transport& transport, const Action& a, ApplyResult& result,
                    HashCache* cache) {
    struct stat st;
    UniqueFd basis = open_file_beneath(root_fd, a.path, &st);
    if (!basis) {
        add_error(result.errors, a.path + ": basis vanished");
        return false;
    }
    const auto basis_size = static_cast<std::uint64_t>(st.st_size);
    Patched patched;
    bool done = false;
    if (!a.basis_sha256.empty()) {
        done = patch_into_place(
            root_fd, a, basis.get(), basis_size,
            [&](const ByteSink& sink, std::string* error) {
                return transport.fetch_delta_from_basis(a.path, a.basis_sha256, sink, error) ==
                       BasisDelta::served;
            },
            &patched);
    }
    if (!done) {
        std::string signature;
        rs_result r = signature_of_fd(basis.get(), basis_size, [&](const char* p, std::size_t n) {
            signature.append(p, n);
            return signature.size() <= kMaxSignatureBytes;
        });
        if (r != RS_DONE) {
            add_error(result.errors, a.path + ": signature failed: " + rs_strerror(r));
            return false;
        }
        patched = Patched();
        done = patch_into_place(
            root_fd, a, basis.get(), basis_size,
            [&](const ByteSink& sink, std::string* error) {
                return transport.fetch_delta(a.path, signature, sink, error);
            },
            &patched);
    }
    if (!done) {
        add_error(result.errors, patched.error);
        return false;
    }
    if (cache)
        cache->put(a.path, {a.entry.size, a.entry.mtime_ns, patched.inode}, a.entry.sha256, true);
    ++result.stats.files_fetched;
    ++result.stats.files_by_delta;
    result.stats.file_bytes_written += a.entry.size;
    result.stats.delta_bytes_received += patched.delta_bytes;
    if (a.entry.size > patched.delta_bytes)
        result.stats.bytes_saved_by_delta += a.entry.size - patched.delta_bytes;
    return true;
}

// A file fetched whole in a batch rather than by delta.
bool fetched_in_batch(const Action& a) {
    return a.kind == ActionKind::kFetch &&
           !(a.has_basis && a.basis_size >= kMinDeltaBytes && a.entry.size >= kMinDeltaBytes);
}

void merge_into(ApplyResult& into, ApplyResult& from) {
    into.complete = into.complete && from.complete;
    for (auto& e : from.errors) add_error(into.errors, std::move(e));
    into.stats.files_fetched += from.stats.files_fetched;
    into.stats.file_bytes_written += from.stats.file_bytes_written;
}

// The batch fetches of `files` on two connections at once: the batches (as BatchBudget cuts
// them) go alternately to this thread and to a second one with its own transport.
void fetch_batches_in_parallel(int root_fd, Transport& transport, Transport& second,
                               const std::vector<const Action*>& files, ApplyResult& result,
                               HashCache* cache, std::chrono::steady_clock::time_point deadline) {
    std::vector<std::vector<const Action*>> batches(1);
    BatchBudget budget;
    for (const Action* a : files) {
        if (!budget.fits(a->path, a->entry.size)) {
            batches.emplace_back();
            budget.clear();
        }
        batches.back().push_back(a);
        budget.add(a->path, a->entry.size);
    }
    std::mutex cache_mutex;
    ApplyResult results[2];
    auto run = [&](std::size_t lane, Transport& t) {
        for (std::size_t i = lane; i < batches.size(); i += 2) {
            if (std::chrono::steady_clock::now() >= deadline) {
                results[lane].complete = false;
                add_error(results[lane].errors,
                          "round-timeout reached; the rest waits for the next round");
                return;
            }
            if (!fetch_batch(root_fd, t, batches[i], results[lane], cache, &cache_mutex))
                results[lane].complete = false;
        }
    };
    std::thread other([&] { run(1, second); });
    run(0, transport);
    other.join();
    for (auto& r : results) merge_into(result, r);
    transport.add_counts(second.bytes_received(), second.bytes_sent());
}

}  // namespace

bool parse_source_args(const std::vector<std::string>& args, SourceOptions* out,
                       std::string* error) {
    if (args.size() < 2) {
        *error =
            "takes <url-of-export> <local-directory> [delete=on|off] [restart=graceful] "
            "[exclude=<glob>]... [max-bytes=<size>] [max-files=<n>] [max-delete=<n>|<p>%] "
            "[empty-manifest=refuse|allow] [stall-timeout=<duration>] "
            "[round-timeout=<duration>]";
        return false;
    }
    SourceOptions s;
    s.url = args[0];
    if (s.url.rfind("http://", 0) != 0 && s.url.rfind("https://", 0) != 0) {
        *error = "URL must start with http:// or https://: " + s.url;
        return false;
    }
    while (s.url.size() > 8 && s.url.back() == '/') s.url.pop_back();
    s.local_dir = args[1];
    if (s.local_dir.empty() || s.local_dir[0] != '/') {
        *error = "local directory must be an absolute path: " + s.local_dir;
        return false;
    }
    while (s.local_dir.size() > 1 && s.local_dir.back() == '/') s.local_dir.pop_back();
    if (s.local_dir == "/") {
        *error = "refusing to sync into /";
        return false;
    }
    RoundLimitSettings limits;
    for (std::size_t i = 2; i < args.size(); ++i) {
        const std::string& a = args[i];
        if (parse_limit_option(a, &limits, error)) {
            if (!error->empty()) return false;
        } else if (a == "delete=on") {
            s.delete_extraneous = true;
        } else if (a == "delete=off") {
            s.delete_extraneous = false;
        } else if (a == "restart=graceful") {
            s.restart_graceful = true;
        } else if (a == "restart=off" || a == "restart=none") {
            s.restart_graceful = false;
        } else if (a.rfind("exclude=", 0) == 0 && a.size() > 8) {
            s.excludes.push_back(a.substr(8));
        } else {
            *error = "unknown option '" + a + "'";
            return false;
        }
    }
    // After the loop: restart=graceful may come after a limit and changes the defaults only.
    s.limits = resolve_limits(limits, s.restart_graceful);
    *out = std::move(s);
    return true;
}

bool BatchBudget::fits(const std::string& path, std::uint64_t size) const {
    if (count_ == 0) return true;
    // serialise_batch_request(): one percent-encoded path and a newline per file.
    const std::uint64_t line = percent_encode(path).size() + 1;
    return count_ < kMaxBatchPaths && content_bytes_ + size <= kMaxBatchContentBytes &&
           request_bytes_ + line <= kMaxBatchRequestBytes;
}

void BatchBudget::add(const std::string& path, std::uint64_t size) {
    ++count_;
    content_bytes_ += size;
    request_bytes_ += percent_encode(path).size() + 1;
}

namespace {

// Every action but a fetch (apply_plan batches those): one call beneath root_fd.
void apply_local_action(const Action& a, int root_fd, ApplyResult& result) {
    auto failed = [&](const std::string& what) {
        result.complete = false;
        add_error(result.errors, a.path + ": " + what + ": " + errno_text(errno));
    };
    switch (a.kind) {
        case ActionKind::kRemove:
            if (!remove_beneath(root_fd, a.path))
                failed("remove");
            else
                ++result.stats.removed;
            break;
        case ActionKind::kMkdir: {
            UniqueFd d = open_dir_beneath(root_fd, a.path, true);
            if (!d) failed("mkdir");
            break;
        }
        case ActionKind::kRename:
            if (!rename_beneath(root_fd, a.from, a.path))
                failed("rename from " + a.from);
            else
                ++result.stats.renamed;
            break;
        case ActionKind::kFetch:  // batched by apply_plan, never passed here
            break;
        case ActionKind::kSymlink:
            if (!make_symlink_beneath(root_fd, a.path, a.entry.target, a.entry.mtime_ns))
                failed("symlink");
            else
                ++result.stats.symlinks;
            break;
        case ActionKind::kSetMode:
            if (!set_mode_beneath(root_fd, a.path, a.entry.mode))
                failed("chmod");
            else
                ++result.stats.metadata;
            break;
        case ActionKind::kSetMtime:
            if (!set_mtime_beneath(root_fd, a.path, a.entry.mtime_ns))
                failed("set mtime");
            else
                ++result.stats.metadata;
            break;
    }
}

}  // namespace

ApplyResult apply_plan(const Plan& plan, int root_fd, Transport& transport, HashCache* cache,
                       std::chrono::steady_clock::time_point deadline) {
    ApplyResult result;
    std::vector<const Action*> batch;
    BatchBudget budget;
    auto flush = [&] {
        if (!fetch_batch(root_fd, transport, batch, result, cache)) result.complete = false;
        batch.clear();
        budget.clear();
    };
    // Many files to fetch whole: those go on two connections at once, before the others.
    std::vector<const Action*> parallel;
    for (const Action& a : plan.actions)
        if (fetched_in_batch(a)) parallel.push_back(&a);
    std::unique_ptr<Transport> second;
    if (parallel.size() >= kParallelBatchFiles) second = transport.parallel_transport();
    if (!second) parallel.clear();
    bool parallel_done = parallel.empty();
    for (const Action& a : plan.actions) {
        if (a.kind == ActionKind::kFetch && !parallel_done) {
            // The fetches are one run in the plan (sync_plan.h step 4): its directories exist.
            fetch_batches_in_parallel(root_fd, transport, *second, parallel, result, cache,
                                      deadline);
            parallel_done = true;
        }
        if (!parallel.empty() && fetched_in_batch(a)) continue;  // fetched above
        if (a.kind != ActionKind::kFetch && !batch.empty()) flush();
        if (std::chrono::steady_clock::now() >= deadline) {
            result.complete = false;
            add_error(result.errors, "round-timeout reached; the rest waits for the next round");
            break;
        }
        if (a.kind != ActionKind::kFetch) {
            apply_local_action(a, root_fd, result);
        } else if (a.has_basis && a.basis_size >= kMinDeltaBytes &&
                   a.entry.size >= kMinDeltaBytes) {
            if (!batch.empty()) flush();
            if (!fetch_by_delta(root_fd, transport, a, result, cache)) result.complete = false;
        } else {
            if (!budget.fits(a.path, a.entry.size)) flush();
            batch.push_back(&a);
            budget.add(a.path, a.entry.size);
        }
    }
    if (!batch.empty()) flush();
    if (!result.errors.empty()) result.complete = false;
    return result;
}

std::string replace_dir_path(const std::string& text, const std::string& dir,
                             const std::string& with) {
    std::string out;
    std::size_t pos = 0;
    for (;;) {
        std::size_t hit = text.find(dir, pos);
        if (hit == std::string::npos) break;
        std::size_t end = hit + dir.size();
        char next = end < text.size() ? text[end] : '\n';
        bool whole = next == '/' || next == '"' || next == '\'' ||
                     std::isspace(static_cast<unsigned char>(next));
        out += text.substr(pos, hit - pos) + (whole ? with : dir);
        pos = end;
    }
    return out + text.substr(pos);
}

std::string staging_dir_for(const std::string& local_dir) {
    std::string parent = parent_of(local_dir);
    std::string name(base_name(local_dir));
    return (parent.empty() ? std::string() : parent) + "/" + std::string(kStagePrefix) + name;
}

namespace {

// The live directory, made when missing; invalid (out says why) if it cannot be opened.
UniqueFd open_live_dir(const SourceOptions& source, RoundResult& out) {
    UniqueFd live = open_root(source.local_dir);
    if (!live && errno == ENOENT && ::mkdir(source.local_dir.c_str(), 0755) == 0)
        live = open_root(source.local_dir);
    if (!live) {
        out.complete = false;
        out.errors.push_back(source.local_dir + ": " + errno_text(errno));
    }
    return live;
}

// A scoped round's paths: the ones the delta names and every parent directory of them (the
// local scan and the plan look at these alone), and the remote entries at those paths.
void scope_to(const RoundScope& scope, const Manifest& remote_all, std::vector<std::string>* paths,
              Manifest* remote) {
    std::set<std::string> wanted;
    for (const auto& p : scope.paths)
        for (std::string q = p; !q.empty() && wanted.insert(q).second; q = parent_of(q)) {
        }
    paths->assign(wanted.begin(), wanted.end());
    for (const auto& p : *paths)
        if (auto it = remote_all.find(p); it != remote_all.end())
            remote->emplace_hint(remote->end(), it->first, it->second);
}

// Leftovers of an interrupted round are never visible under a real name; tidy them.
void remove_stale_temp_files(int live_fd, const ScanResult& local) {
    for (const auto& t : local.stale_temp_files) {
        UniqueFd d = open_dir_beneath(live_fd, parent_of(t));
        if (d) ::unlinkat(d.get(), std::string(base_name(t)).c_str(), 0);
    }
}

// Local files whose content is the primary's own may later be a delta basis. Both maps are
// sorted by path: one merged pass, no lookups.
void note_published_basis(const Manifest& local, const Manifest& remote, HashCache& cache) {
    for (auto l = local.cbegin(), r = remote.cbegin(); l != local.end() && r != remote.end();) {
        if (l->first < r->first) {
            ++l;
        } else if (r->first < l->first) {
            ++r;
        } else {
            if (l->second.type == EntryType::kFile && r->second.type == EntryType::kFile &&
                l->second.sha256 == r->second.sha256)
                cache.mark_published(l->first, l->second.sha256);
            ++l;
            ++r;
        }
    }
}

Plan plan_round(const SourceOptions& source, const Manifest& local, const Manifest& remote,
                HashCache& cache) {
    PlanOptions plan_options;
    plan_options.delete_extraneous = source.delete_extraneous;
    plan_options.excludes = source.excludes;
    plan_options.strip_mode_bits = source.restart_graceful ? 022 : 002;
    plan_options.may_be_basis = [&cache](const std::string& path, const Entry& l) {
        return cache.is_published(path, l.sha256);
    };
    return make_plan(local, remote, plan_options);
}

// Whether the file system holding the live tree has room for the plan, with its margin.
std::optional<std::string> round_space_problem(const SourceOptions& source, const Plan& plan,
                                               const Manifest& local, int live_fd) {
    // Staging copies the whole live tree before the round's own writes.
    std::uint64_t bytes = plan.totals.bytes_to_write;
    std::uint64_t inodes = plan.totals.entries_to_create;
    if (source.restart_graceful) {
        for (const auto& kv : local) bytes += kv.second.size;
        inodes += local.size() + 1;
    }
    auto space = free_space_of(live_fd);
    return space ? space_problem(bytes, inodes, *space)
                 : std::optional<std::string>("cannot read the free space: " + errno_text(errno));
}

// The staging directory beside the live one, emptied, then filled with a copy of the live tree;
// invalid (out says why) on failure. *parent is the directory holding both.
UniqueFd stage_copy(const SourceOptions& source, int live_fd, UniqueFd* parent, RoundResult& out) {
    std::string staging = staging_dir_for(source.local_dir);
    *parent = open_root(parent_of(source.local_dir).empty() ? "/" : parent_of(source.local_dir));
    const std::string stage_name(base_name(staging));
    if (*parent && ::mkdirat(parent->get(), stage_name.c_str(), 0700) != 0 && errno != EEXIST)
        parent->reset();
    UniqueFd stage;
    if (*parent)
        stage.reset(::openat(parent->get(), stage_name.c_str(),
                             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!stage || !clear_dir(stage.get())) {
        out.complete = false;
        out.errors.push_back(staging + ": " + errno_text(errno));
        return UniqueFd();
    }
    if (!copy_tree(live_fd, stage.get())) {
        out.complete = false;
        out.errors.push_back(staging + ": cannot stage a copy: " + errno_text(errno));
        return UniqueFd();
    }
    struct stat live_st;
    if (::fstat(live_fd, &live_st) == 0) ::fchmod(stage.get(), live_st.st_mode & 07777);
    return stage;
}

// Exchanges the staging directory (in `parent_fd`) with the live one: through `swap` when set.
bool swap_staging_in(const SourceOptions& source, int parent_fd, const StageSwap& swap,
                     std::string* error) {
    if (swap) return swap(error);
    const std::string stage_name(base_name(staging_dir_for(source.local_dir)));
    bool swapped =
        ::renameat2(parent_fd, stage_name.c_str(), parent_fd,
                    std::string(base_name(source.local_dir)).c_str(), RENAME_EXCHANGE) == 0;
    if (swapped)
        ::fsync(parent_fd);
    else
        *error = errno_text(errno);
    return swapped;
}

// restart=graceful: stage a full copy, apply there, check, swap.
void apply_staged(const SourceOptions& source, const Plan& plan, int live_fd, Transport& transport,
                  HashCache& cache, std::chrono::steady_clock::time_point deadline,
                  const ConfigCheck& check, const StageSwap& swap, RoundResult& out) {
    const std::string staging = staging_dir_for(source.local_dir);
    UniqueFd parent;
    UniqueFd stage = stage_copy(source, live_fd, &parent, out);
    if (!stage) return;
    ApplyResult applied = apply_plan(plan, stage.get(), transport, &cache, deadline);
    out.stats = applied.stats;
    if (!applied.complete) {
        // Never swap in a batch that is not whole; the next round starts again.
        out.complete = false;
        out.errors = std::move(applied.errors);
        return;
    }
    std::string output;
    if (check && !check(staging, &output)) {
        out.config_rejected = true;
        out.check_output = output;
        return;
    }
    // Written through before it becomes live: a power loss after the swap must not leave a
    // configuration with truncated files.
    if (!fsync_tree(stage.get())) {
        out.complete = false;
        out.errors.push_back(staging + ": fsync failed: " + errno_text(errno));
        return;
    }
    std::string swap_error;
    if (!swap_staging_in(source, parent.get(), swap, &swap_error)) {
        out.complete = false;
        out.errors.push_back("swap of " + staging + " and " + source.local_dir +
                             " failed: " + swap_error);
        return;
    }
    // The old content now lives at the staging path; it is emptied before the next staging.
    out.restart_needed = true;
}

// restart=no: the plan is applied to the live tree itself.
void apply_in_place(const Plan& plan, int live_fd, Transport& transport, HashCache& cache,
                    std::chrono::steady_clock::time_point deadline, RoundResult& out) {
    ApplyResult applied = apply_plan(plan, live_fd, transport, &cache, deadline);
    out.complete = applied.complete;
    out.errors = std::move(applied.errors);
    out.stats = applied.stats;
}

// Holds the transport to one round's deadline and stall timeout until the round ends, however
// it ends.
class RoundLimitsHold {
  public:
    RoundLimitsHold(Transport& transport, std::chrono::steady_clock::time_point deadline,
                    std::chrono::seconds stall)
        : transport_(transport) {
        transport_.set_round_limits(deadline, stall);
    }
    ~RoundLimitsHold() {
        transport_.set_round_limits(std::chrono::steady_clock::time_point::max(),
                                    std::chrono::seconds(0));
    }
    RoundLimitsHold(const RoundLimitsHold&) = delete;
    RoundLimitsHold& operator=(const RoundLimitsHold&) = delete;

  private:
    Transport& transport_;
};

// The live tree as it is now: whole, or only at `scoped_paths` when given.
ScanResult scan_live(const SourceOptions& source, int live_fd, HashCache& cache,
                     const std::vector<std::string>* scoped_paths) {
    ScanOptions scan_options;
    scan_options.excludes = source.excludes;
    scan_options.skip_unsafe_symlinks = false;  // ours to replace or delete
    return scoped_paths ? scan_paths(live_fd, cache, *scoped_paths, scan_options)
                        : scan_tree(live_fd, cache, scan_options);
}

// Whether the plan keeps within the source's limits and the free space; out says why not.
bool plan_fits(const SourceOptions& source, const Plan& plan, const Manifest& local, int live_fd,
               RoundResult& out) {
    if (auto problem = limit_problem(plan.totals, source.limits)) {
        out.limit_exceeded = *problem;
        return false;
    }
    if (auto problem = round_space_problem(source, plan, local, live_fd)) {
        out.limit_exceeded = *problem;
        out.limit_transient = true;
        return false;
    }
    return true;
}

}  // namespace

RoundResult sync_round(const SourceOptions& source, const Manifest& remote_all, HashCache& cache,
                       Transport& transport, const ConfigCheck& check, const StageSwap& swap,
                       const RoundScope* scope) {
    RoundResult out;
    UniqueFd live = open_live_dir(source, out);
    if (!live) return out;
    const auto deadline = std::chrono::steady_clock::now() + source.limits.round_timeout;
    const RoundLimitsHold round_limits(transport, deadline, source.limits.stall_timeout);
    if (remote_all.size() > source.limits.max_files) {
        out.limit_exceeded =
            "the manifest has " + std::to_string(remote_all.size()) +
            " entries, more than max-files=" + std::to_string(source.limits.max_files);
        return out;
    }
    if (source.restart_graceful) scope = nullptr;
    Manifest remote_scoped;
    std::vector<std::string> scoped_paths;
    if (scope) scope_to(*scope, remote_all, &scoped_paths, &remote_scoped);
    const Manifest& remote = scope ? remote_scoped : remote_all;
    ScanResult local = scan_live(source, live.get(), cache, scope ? &scoped_paths : nullptr);
    if (!local.ok()) {
        out.complete = false;
        out.errors.push_back(source.local_dir + ": " + local.error);
        return out;
    }
    remove_stale_temp_files(live.get(), local);
    note_published_basis(local.manifest, remote, cache);
    Plan plan = plan_round(source, local.manifest, remote, cache);
    if (scope) {
        // The limits are about the whole tree, not the part looked at.
        plan.totals.local_entries = scope->base_entries;
        plan.totals.remote_entries = remote_all.size() - plan.refused.size();
    }
    out.refused = plan.refused;
    if (plan.empty() || !plan_fits(source, plan, local.manifest, live.get(), out)) return out;
    out.changed = true;
    if (source.restart_graceful)
        apply_staged(source, plan, live.get(), transport, cache, deadline, check, swap, out);
    else
        apply_in_place(plan, live.get(), transport, cache, deadline, out);
    return out;
}

}  // namespace docsync
