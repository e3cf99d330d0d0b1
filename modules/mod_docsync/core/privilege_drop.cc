#include "privilege_drop.h"

#include <grp.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <fstream>

#include "safe_fs.h"

namespace docsync {

namespace {

constexpr int kMaxGroups = 64;

int last_capability() {
    std::ifstream f("/proc/sys/kernel/cap_last_cap");
    int last = -1;
    if (f >> last && last >= 0 && last < 64) return last;
    return 63;  // drop what the kernel knows; EINVAL beyond it ends the loop
}

bool fail(std::string* error, const std::string& what) {
    if (error) *error = what + ": " + errno_text(errno);
    return false;
}

struct CapSets {
    __u32 effective[2];
    __u32 permitted[2];
    __u32 inheritable[2];
};

bool read_caps(CapSets* sets) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    if (::syscall(SYS_capget, &header, data) != 0) return false;
    for (int i = 0; i < 2; ++i) {
        sets->effective[i] = data[i].effective;
        sets->permitted[i] = data[i].permitted;
        sets->inheritable[i] = data[i].inheritable;
    }
    return true;
}

bool clear_caps() {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct data[2] = {};
    return ::syscall(SYS_capset, &header, data) == 0;
}

}  // namespace

bool drop_privileges(uid_t uid, gid_t gid, std::string* error) {
    if (uid == 0) {
        errno = EINVAL;
        return fail(error, "refusing to drop to uid 0");
    }
    if (::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0) return fail(error, "PR_SET_KEEPCAPS");
    // The bounding set goes first: dropping from it needs CAP_SETPCAP, which setuid takes away.
    const int last = last_capability();
    for (int cap = 0; cap <= last; ++cap)
        if (::prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL)
            return fail(error, "PR_CAPBSET_DROP " + std::to_string(cap));
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0 && errno != EINVAL)
        return fail(error, "PR_CAP_AMBIENT_CLEAR_ALL");
    if (::setgroups(1, &gid) != 0) return fail(error, "setgroups");
    if (::setresgid(gid, gid, gid) != 0) return fail(error, "setresgid");
    if (::setresuid(uid, uid, uid) != 0) return fail(error, "setresuid");
    // setresuid away from 0 clears permitted and effective; inheritable stays unless cleared.
    if (!clear_caps()) return fail(error, "capset");
    if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) return fail(error, "PR_SET_NO_NEW_PRIVS");
    return verify_unprivileged(uid, gid, error);
}

bool verify_unprivileged(uid_t uid, gid_t gid, std::string* error) {
    auto refuse = [&](const std::string& what) {
        if (error) *error = what;
        return false;
    };
    uid_t ru, eu, su;
    gid_t rg, eg, sg;
    if (::getresuid(&ru, &eu, &su) != 0 || ru != uid || eu != uid || su != uid)
        return refuse("uid is not " + std::to_string(uid) + " in every slot");
    if (::getresgid(&rg, &eg, &sg) != 0 || rg != gid || eg != gid || sg != gid)
        return refuse("gid is not " + std::to_string(gid) + " in every slot");
    gid_t groups[kMaxGroups];
    int n = ::getgroups(kMaxGroups, groups);
    if (n < 0) return refuse("getgroups failed");
    for (int i = 0; i < n; ++i)
        if (groups[i] != gid) return refuse("supplementary group " + std::to_string(groups[i]));
    CapSets sets;
    if (!read_caps(&sets)) return refuse("capget failed");
    for (int i = 0; i < 2; ++i)
        if (sets.effective[i] || sets.permitted[i] || sets.inheritable[i])
            return refuse("a capability is still held");
    const int last = last_capability();
    for (int cap = 0; cap <= last; ++cap)
        if (::prctl(PR_CAPBSET_READ, cap, 0, 0, 0) == 1)
            return refuse("capability " + std::to_string(cap) + " still in the bounding set");
    if (::prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) != 1) return refuse("no_new_privs is not set");
    if (::setuid(0) == 0 || ::seteuid(0) == 0) return refuse("root could be regained");
    return true;
}

}  // namespace docsync
