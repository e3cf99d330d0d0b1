// Turning a root process into one that can never be root again: the sync worker, which talks to
// the primary and parses its answers, runs like this.
#pragma once

#include <sys/types.h>

#include <string>

namespace docsync {

// Drops every capability from the bounding, ambient, inheritable, permitted and effective sets,
// sets the supplementary groups to just `gid`, then the real/effective/saved gid and uid (in that
// order: once the uid is gone, the gid could no longer be changed), sets PR_SET_NO_NEW_PRIVS, and
// verifies the result (verify_unprivileged). False with `error` naming the step that failed; the
// caller must then exit rather than run on.
bool drop_privileges(uid_t uid, gid_t gid, std::string* error);

// True when the process has uid/gid `uid`/`gid` in all three slots, no supplementary group but
// `gid`, no capability in any set (bounding included), no_new_privs, and setuid(0) fails.
bool verify_unprivileged(uid_t uid, gid_t gid, std::string* error);

}  // namespace docsync
