#include "sync_plan.h"

#include <algorithm>
#include <iterator>
#include <map>
#include <set>

#include "path_policy.h"

namespace docsync {

const char* to_string(ActionKind k) {
    switch (k) {
        case ActionKind::kRemove:
            return "remove";
        case ActionKind::kMkdir:
            return "mkdir";
        case ActionKind::kRename:
            return "rename";
        case ActionKind::kFetch:
            return "fetch";
        case ActionKind::kSymlink:
            return "symlink";
        case ActionKind::kSetMode:
            return "chmod";
        case ActionKind::kSetMtime:
            return "mtime";
    }
    return "?";
}

std::size_t Plan::count(ActionKind k) const {
    return static_cast<std::size_t>(std::count_if(actions.begin(), actions.end(),
                                                  [k](const Action& a) { return a.kind == k; }));
}

Manifest without_excluded(const Manifest& m, const std::vector<std::string>& excludes) {
    if (excludes.empty()) return m;
    Manifest out;
    for (const auto& [path, e] : m) {
        bool skip = false;
        for (const auto& g : excludes)
            if (glob_excludes(g, path)) {
                skip = true;
                break;
            }
        if (!skip) out.emplace_hint(out.end(), path, e);
    }
    return out;
}

namespace {

bool is_under(const std::string& path, const std::string& dir) {
    return path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
           path[dir.size()] == '/';
}

// Deepest first: reverse bytewise order puts "a/b" before "a".
void push_deepest_first(std::vector<Action>& out, std::vector<std::string> paths) {
    std::sort(paths.rbegin(), paths.rend());
    for (auto& p : paths)
        out.push_back(Action{ActionKind::kRemove, std::move(p), {}, {}, false, 0});
}

// Moves, not copies: with a million fetches a copy would double the plan's memory.
void move_to_end(std::vector<Action>& out, std::vector<Action>& in) {
    out.reserve(out.size() + in.size());
    out.insert(out.end(), std::make_move_iterator(in.begin()), std::make_move_iterator(in.end()));
    std::vector<Action>().swap(in);
}

// The steps of make_plan (sync_plan.h numbers them), each appending to one plan over the same
// two manifests. The sets carry what one step decided to the next.
class Planner {
  public:
    Planner(const Manifest& local, const Manifest& remote, const PlanOptions& options)
        : local_(local), remote_(remote), options_(options) {}

    Plan run() {
        find_refused_links();
        // Room for every action this plan can have (a remote entry gives at most four, a local
        // one one): untouched capacity costs address space, not memory, and the list is never
        // reallocated, which for a million entries would hold it twice for a moment.
        plan_.actions.reserve(4 * remote_.size() + local_.size() + 1);
        plan_.totals.local_entries = local_.size();
        plan_.totals.remote_entries = remote_.size() - plan_.refused.size();
        remove_type_conflicts();  // 1
        make_directories();       // 2
        find_rename_sources();
        // 3. renames, then 4. fetches, each appended in place: a million fetches are not built
        // in a vector of their own and moved (the plan's largest list would exist twice).
        rename_files();
        fetch_files();
        make_symlinks();                                      // 5
        move_to_end(plan_.actions, metadata_);                // 6. metadata of unchanged files
        if (options_.delete_extraneous) delete_extraneous();  // 7
        set_directory_metadata();                             // 8
        return std::move(plan_);
    }

  private:
    bool refused(const std::string& path) const {
        if (refused_links_.empty()) return false;
        for (std::string p = path; !p.empty(); p = parent_of(p))
            if (refused_links_.count(p)) return true;
        return false;
    }
    bool remote_has(const std::string& path) const { return remote_.count(path) && !refused(path); }
    const Entry* local_has(const std::string& p, EntryType t) const {
        if (gone_.count(p)) return nullptr;
        auto it = local_.find(p);
        return it != local_.end() && it->second.type == t ? &it->second : nullptr;
    }
    Entry with_mode(const Entry& r) const {
        Entry e = r;
        e.mode = wanted_mode(r, options_);
        return e;
    }

    // Unsafe symlinks are dropped from the target state; whatever is local at that path stays
    // as it is (and a later directory below it is refused by the parent check).
    void find_refused_links() {
        for (auto it = remote_.begin(); it != remote_.end(); ++it) {
            if (refused(it->first)) continue;  // below a refused link: already listed
            if (it->second.type != EntryType::kSymlink ||
                is_safe_symlink_target(it->first, it->second.target))
                continue;
            plan_.refused.push_back(it->first);
            refused_links_.insert(it->first);
            for (auto below = std::next(it);
                 below != remote_.end() && is_under(below->first, it->first); ++below)
                plan_.refused.push_back(below->first);
        }
    }

    void remove_type_conflicts() {
        std::vector<std::string> conflicts;
        for (const auto& [path, r] : remote_) {
            if (refused(path)) continue;
            auto it = local_.find(path);
            if (it != local_.end() && it->second.type != r.type) conflicts.push_back(path);
        }
        for (const auto& c : conflicts) {
            gone_.insert(c);
            for (auto it = local_.upper_bound(c); it != local_.end() && is_under(it->first, c);
                 ++it)
                gone_.insert(it->first);
        }
        plan_.totals.deletions += gone_.size();
        push_deepest_first(plan_.actions, conflicts);
    }

    void make_directories() {
        for (const auto& [path, r] : remote_)
            if (r.type == EntryType::kDir && !refused(path) && !local_has(path, EntryType::kDir)) {
                plan_.actions.push_back(
                    Action{ActionKind::kMkdir, path, {}, with_mode(r), false, 0});
                ++plan_.totals.entries_to_create;
            }
    }

    // Local files that will be deleted, by content, as rename sources.
    void find_rename_sources() {
        if (!options_.delete_extraneous) return;
        for (const auto& [path, l] : local_)
            if (l.type == EntryType::kFile && !remote_has(path) && !gone_.count(path))
                deletable_by_hash_.emplace(std::make_pair(l.sha256, l.size), path);
    }

    void rename_files() {
        for (const auto& [path, r_in] : remote_) {
            if (r_in.type != EntryType::kFile || refused(path) || local_has(path, EntryType::kFile))
                continue;
            auto it = deletable_by_hash_.find({r_in.sha256, r_in.size});
            if (it == deletable_by_hash_.end()) continue;
            Entry r = with_mode(r_in);
            plan_.actions.push_back(Action{ActionKind::kRename, path, it->second, r, false, 0});
            renamed_away_.insert(it->second);
            renamed_to_.insert(path);
            deletable_by_hash_.erase(it);
            // The renamed file keeps its local mode and mtime: fix them afterwards.
            metadata_.push_back(Action{ActionKind::kSetMode, path, {}, r, false, 0});
            metadata_.push_back(Action{ActionKind::kSetMtime, path, {}, r, false, 0});
        }
    }

    void fetch_files() {
        for (const auto& [path, r_in] : remote_) {
            if (r_in.type != EntryType::kFile || refused(path) || renamed_to_.count(path)) continue;
            const Entry* l = local_has(path, EntryType::kFile);
            if (l && l->sha256 == r_in.sha256 && l->size == r_in.size) {
                const std::uint32_t mode = wanted_mode(r_in, options_);
                if ((l->mode & kModeMask) != mode)
                    metadata_.push_back(
                        Action{ActionKind::kSetMode, path, {}, with_mode(r_in), false, 0});
                if (l->mtime_ns != r_in.mtime_ns)
                    metadata_.push_back(
                        Action{ActionKind::kSetMtime, path, {}, with_mode(r_in), false, 0});
                continue;
            }
            const bool basis = l && (!options_.may_be_basis || options_.may_be_basis(path, *l));
            plan_.actions.push_back(Action{ActionKind::kFetch,
                                           path,
                                           {},
                                           with_mode(r_in),
                                           basis,
                                           basis ? l->size : 0,
                                           basis ? l->sha256 : std::string()});
            plan_.totals.bytes_to_write += r_in.size;
            ++plan_.totals.entries_to_create;
        }
    }

    void make_symlinks() {
        for (const auto& [path, r] : remote_) {
            if (r.type != EntryType::kSymlink || refused(path)) continue;
            const Entry* l = local_has(path, EntryType::kSymlink);
            if (!l || l->target != r.target) {
                plan_.actions.push_back(Action{ActionKind::kSymlink, path, {}, r, false, 0});
                ++plan_.totals.entries_to_create;
            }
        }
    }

    void delete_extraneous() {
        std::vector<std::string> extraneous;
        for (const auto& [path, l] : local_) {
            if (remote_has(path) || gone_.count(path) || renamed_away_.count(path)) continue;
            ++plan_.totals.deletions;
            // Below a directory that is itself deleted: removing the directory covers it.
            std::string parent = parent_of(path);
            bool covered = false;
            while (!parent.empty()) {
                if (!remote_has(parent) && local_.count(parent)) {
                    covered = true;
                    break;
                }
                parent = parent_of(parent);
            }
            if (!covered) extraneous.push_back(path);
        }
        push_deepest_first(plan_.actions, extraneous);
    }

    // Directories whose content this plan touches get their mtime set again even if it matched
    // before, since creating or removing an entry changes it.
    void set_directory_metadata() {
        std::set<std::string> touched;
        for (const auto& a : plan_.actions) {
            touched.insert(parent_of(a.path));
            if (!a.from.empty()) touched.insert(parent_of(a.from));
        }
        std::vector<Action> dirs;
        for (const auto& [path, r_in] : remote_) {
            if (r_in.type != EntryType::kDir || refused(path)) continue;
            Entry r = with_mode(r_in);
            const Entry* l = local_has(path, EntryType::kDir);
            if (!l || (l->mode & kModeMask) != r.mode)
                dirs.push_back(Action{ActionKind::kSetMode, path, {}, r, false, 0});
            if (!l || l->mtime_ns != r.mtime_ns || touched.count(path))
                dirs.push_back(Action{ActionKind::kSetMtime, path, {}, r, false, 0});
        }
        std::stable_sort(dirs.begin(), dirs.end(),
                         [](const Action& a, const Action& b) { return a.path > b.path; });
        move_to_end(plan_.actions, dirs);
    }

    const Manifest& local_;
    const Manifest& remote_;
    const PlanOptions& options_;
    Plan plan_;
    std::set<std::string> refused_links_;
    std::set<std::string> gone_;  // local paths removed by step 1 (and their subtrees)
    std::multimap<std::pair<std::string, std::uint64_t>, std::string> deletable_by_hash_;
    std::set<std::string> renamed_away_;
    std::set<std::string> renamed_to_;
    std::vector<Action> metadata_;  // modes and mtimes of files whose content is kept
};

}  // namespace

Plan make_plan(const Manifest& local_in, const Manifest& remote_in, const PlanOptions& options) {
    // Copies only when excludes filter something out; otherwise the caller's maps are used.
    Manifest local_filtered, remote_filtered;
    const bool filter = !options.excludes.empty();
    if (filter) {
        local_filtered = without_excluded(local_in, options.excludes);
        remote_filtered = without_excluded(remote_in, options.excludes);
    }
    return Planner(filter ? local_filtered : local_in, filter ? remote_filtered : remote_in,
                   options)
        .run();
}

}  // namespace docsync
