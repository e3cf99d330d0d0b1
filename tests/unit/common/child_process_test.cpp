#include "child_process.h"

#include <signal.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>

using namespace std::chrono_literals;

TEST_CASE("reap_or_kill reaps a child that ends within the grace period") {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) _exit(0);
    CHECK(suite::reap_or_kill(pid, 5s));
    CHECK(::kill(pid, 0) != 0);  // reaped: no zombie left
}

TEST_CASE("reap_or_kill kills a child that outlives the grace period, and reaps it") {
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::signal(SIGTERM, SIG_IGN);
        ::sleep(30);
        _exit(0);
    }
    const auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(suite::reap_or_kill(pid, 50ms));
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    CHECK(::kill(pid, 0) != 0);
}
