// The secondary's side of one sync round, independent of HTTP: the transport is an interface
// (libcurl in the module, a local directory in unit tests).
//
// One round: scan the local tree (hash cache) → plan against the remote manifest → apply.
// For an ordinary source each file is applied atomically on its own (temp + verify + rename).
// For a restart=graceful source the whole batch is applied to a staging copy beside the live
// directory, validated by a caller-supplied check (httpd -t), and only then swapped in with one
// renameat2(RENAME_EXCHANGE), so the server never reads a half-applied configuration.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "batch_stream.h"
#include "manifest.h"
#include "round_limits.h"
#include "rsync_delta.h"
#include "sync_plan.h"
#include "tree_scan.h"

namespace docsync {

// Below this size a file is fetched whole in a batch: the signature and an extra round trip
// would cost more than the file.
inline constexpr std::uint64_t kMinDeltaBytes = 16 * 1024;
inline constexpr std::uint64_t kMaxBatchContentBytes = 32u << 20;

struct SourceOptions {
    std::string url;        // export URL, e.g. http://primary/.docsync/conf
    std::string local_dir;  // absolute
    bool delete_extraneous = true;
    bool restart_graceful = false;
    std::vector<std::string> excludes;
    RoundLimits limits;  // max-bytes=, max-files=, max-delete=, ... (round_limits.h)
};

// Parses the arguments of DocSyncSource (after the directive name). Error names the argument.
bool parse_source_args(const std::vector<std::string>& args, SourceOptions* out,
                       std::string* error);

// The answer to "the delta from the content I have" (no signature sent; block_index.h).
enum class BasisDelta {
    served,         // the delta went to the sink, complete
    unknown_basis,  // the primary cannot answer from its block indexes: send a signature
    failed,
};

class Transport {
  public:
    virtual ~Transport() = default;
    virtual bool fetch_files(const std::vector<std::string>& paths, BatchDecoder& decoder,
                             std::string* error) = 0;
    virtual bool fetch_delta(const std::string& path, const std::string& signature,
                             const ByteSink& sink, std::string* error) = 0;
    // The delta from the primary's version with content `basis_sha256` to the current file.
    virtual BasisDelta fetch_delta_from_basis(const std::string& path,
                                              const std::string& basis_sha256, const ByteSink& sink,
                                              std::string* error) {
        (void)path;
        (void)basis_sha256;
        (void)sink;
        (void)error;
        return BasisDelta::unknown_basis;
    }
    virtual std::uint64_t bytes_received() const = 0;  // body + headers, since construction
    virtual std::uint64_t bytes_sent() const = 0;
    // Another transport to the same primary, used from a second thread for batches fetched at
    // the same time as this one's (a large round: sync_engine.cc kParallelBatchFiles); null if
    // there is none. Its byte counts are then added to this one's with add_counts.
    virtual std::unique_ptr<Transport> parallel_transport() { return nullptr; }
    virtual void add_counts(std::uint64_t received, std::uint64_t sent) {
        (void)received;
        (void)sent;
    }
    // For the requests of one round: none may end after `deadline`, and one that moves less
    // than kStallBytesPerSecond for `stall` is abandoned. sync_round sets it and, at its end,
    // resets it to no deadline.
    virtual void set_round_limits(std::chrono::steady_clock::time_point deadline,
                                  std::chrono::seconds stall) {
        (void)deadline;
        (void)stall;
    }
};

struct RoundStats {
    std::size_t files_fetched = 0;
    std::size_t files_by_delta = 0;
    std::size_t renamed = 0;
    std::size_t removed = 0;
    std::size_t symlinks = 0;
    std::size_t metadata = 0;
    std::uint64_t file_bytes_written = 0;
    std::uint64_t delta_bytes_received = 0;  // delta payloads only
    std::uint64_t bytes_saved_by_delta = 0;  // file bytes rebuilt from the local basis
};

struct ApplyResult {
    bool complete = true;             // every action succeeded
    std::vector<std::string> errors;  // one per failed action, bounded
    RoundStats stats;
};

// Files written by the plan are entered into `cache` (when given) with the hash they were
// verified against, so the next local scan does not read them again.
ApplyResult apply_plan(
    const Plan& plan, int root_fd, Transport& transport, HashCache* cache = nullptr,
    std::chrono::steady_clock::time_point deadline = std::chrono::steady_clock::time_point::max());

// How full a batch request is: at most kMaxBatchPaths paths, about kMaxBatchContentBytes of
// content, and a request body (the percent-encoded path list) never larger than
// kMaxBatchRequestBytes, the primary's own limit: 2000 long, escaped paths would exceed it.
class BatchBudget {
  public:
    // Whether one more file fits (an empty batch always takes one).
    bool fits(const std::string& path, std::uint64_t size) const;
    void add(const std::string& path, std::uint64_t size);
    void clear() { *this = BatchBudget(); }
    std::size_t count() const { return count_; }
    std::uint64_t request_bytes() const { return request_bytes_; }

  private:
    std::size_t count_ = 0;
    std::uint64_t content_bytes_ = 0;
    std::uint64_t request_bytes_ = 0;
};

struct RoundResult {
    bool changed = false;  // something was applied (or staged)
    bool complete = true;
    bool config_rejected = false;  // restart=graceful: check failed, nothing swapped
    bool restart_needed = false;   // restart=graceful: swapped, a graceful restart is due
    std::string check_output;      // output of the config check when it failed
    std::vector<std::string> errors;
    std::vector<std::string> refused;  // remote entries refused (unsafe symlinks)
    // Non-empty: the round was over a limit (or short of free space) and applied nothing.
    std::string limit_exceeded;
    bool limit_transient = false;  // free space: worth retrying later with the same manifest
    RoundStats stats;
};

// Validates a staged tree; `staging_dir` is where the new content is. Returns true if valid.
using ConfigCheck = std::function<bool(const std::string& staging_dir, std::string* output)>;

// Exchanges the validated, fsync'ed staging directory with the live one. Empty: this process does
// it itself (renameat2 RENAME_EXCHANGE); the module's unprivileged worker asks its privileged
// helper instead, as the parent directory of a configuration tree is root's.
using StageSwap = std::function<bool(std::string* error)>;

// A round that looks only at the paths a manifest delta names: the local tree was made
// identical to the delta's base by the last complete round and is taken to be unchanged
// elsewhere (a full round corrects local changes to other paths). Those paths and their parent
// directories are examined (tree_scan.h scan_paths, no directory is read whole) and the plan is
// made for them alone; the limits count against `base_entries`, the entries of the base.
struct RoundScope {
    std::vector<std::string> paths;  // added, changed or removed by the delta
    std::size_t base_entries = 0;
};

// A restart=graceful round stages into staging_dir_for(local_dir): emptied when it exists (it
// may be root's to create, ours to fill), made otherwise; it never uses a scope (the staging
// copy is of the whole tree anyway).
RoundResult sync_round(const SourceOptions& source, const Manifest& remote, HashCache& cache,
                       Transport& transport, const ConfigCheck& check, const StageSwap& swap = {},
                       const RoundScope* scope = nullptr);

// The main config file text with every whole-path occurrence of `dir` (followed by '/', a
// quote, whitespace or the end — not by more name characters) replaced by `with`: how the
// configuration is checked with the staging directory in place of the live one.
std::string replace_dir_path(const std::string& text, const std::string& dir,
                             const std::string& with);

// Path of the staging directory used for `local_dir`.
std::string staging_dir_for(const std::string& local_dir);

}  // namespace docsync
