// Rollback protection on the secondary: the highest manifest version (the primary's scan time,
// X-DocSync-Scanned, covered by the answer tag) accepted from a source, kept on disk so that
// neither an older answer nor a restart of the sync process can take the tree back to an
// earlier state (deleted files returning, a page reverting).
//
// An older version is never applied. An httpd child of the primary that has not caught up yet
// with what another child already answered looks the same; the caller asks again shortly. If
// the primary's clock is stepped back, its answers stay refused until its scans pass the last
// accepted version (or an administrator removes the state file): the price of refusing every
// rollback, which the status page names.
//
// The state file lives in a per-source state directory beside the synced directory,
// <parent>/.docsync-state.<name>/version — not in the tree, where a sync would delete it or an
// export would publish it, and not under the runtime directory, which is a tmpfs that a reboot
// empties. The parent (e.g. /etc/apache2) is root's: the privileged helper creates the state
// directory (mode 0700, like the staging directory) and gives it to the sync user, so that the
// unprivileged worker can write there and nowhere else beside the tree. The file is replaced
// atomically (O_EXCL|O_NOFOLLOW temp file in the same directory, fsync, rename) and records the
// source URL, so pointing the directory at another source starts afresh.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace docsync {

// <parent>/.docsync-state.<name>: the sync user's persistent directory for one source.
std::string source_state_dir_for(const std::string& local_dir);
// The version file in it.
std::string version_state_path_for(const std::string& local_dir);

enum class VersionVerdict { kAcceptable, kOlder, kMissing };

class VersionStore {
  public:
    VersionStore(std::string state_path, std::string source_url)
        : path_(std::move(state_path)), url_(std::move(source_url)) {}
    // Reads the state file; a missing file (or one for another URL) means nothing accepted
    // yet. False (error set) if it exists but cannot be read or parsed; highest() is then 0.
    bool load(std::string* error);
    std::int64_t highest() const { return highest_; }
    // A version header as received; *version is set when it parses.
    VersionVerdict judge(std::string_view header, std::int64_t* version) const;
    // Records `version` if higher than the highest so far (written before the answer is acted
    // on). False, error set, if the file could not be written.
    bool accept(std::int64_t version, std::string* error);

  private:
    std::string path_;
    std::string url_;
    std::int64_t highest_ = 0;
};

}  // namespace docsync
