#include "privilege_drop.h"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <string>

using namespace docsync;

namespace {
constexpr uid_t kNobody = 65534;
constexpr gid_t kNogroup = 65534;

// Runs `f` in a forked child; its exit status.
template <class F>
int in_child(F f) {
    pid_t pid = fork();
    if (pid == 0) _exit(f());
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}
}  // namespace

TEST_CASE("a dropped process cannot become root again and holds no capability") {
    if (geteuid() != 0) {
        WARN("not root: privilege drop not testable");
        return;
    }
    std::string error;
    CHECK_FALSE(verify_unprivileged(0, 0, &error));  // root itself is not "unprivileged"
    int rc = in_child([] {
        std::string e;
        if (!drop_privileges(kNobody, kNogroup, &e)) return 1;
        if (getuid() != kNobody || geteuid() != kNobody || getgid() != kNogroup) return 2;
        if (setuid(0) == 0 || setgid(0) == 0) return 3;
        if (!verify_unprivileged(kNobody, kNogroup, &e)) return 4;
        // A file only root may write stays closed.
        if (access("/etc/shadow", W_OK) == 0) return 5;
        return 0;
    });
    CHECK(rc == 0);
    CHECK(in_child([] {
              std::string e;
              return drop_privileges(0, 0, &e) ? 0 : 1;  // refuses "dropping" to root
          }) == 1);
}
