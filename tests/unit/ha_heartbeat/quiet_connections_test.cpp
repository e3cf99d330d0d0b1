#include "quiet_connections.h"

#include <catch2/catch.hpp>

using namespace ha_heartbeat;
using namespace std::chrono_literals;

namespace {
constexpr nanoseconds kQuiet = 250ms;
}

TEST_CASE("a kept-alive connection is closed once it has been quiet long enough, once") {
    QuietConnections q;
    const auto id = q.add(7);
    q.answered(id, 1s);
    CHECK(q.take_quiet(1s + 249ms, kQuiet).empty());
    CHECK(q.take_quiet(1s + 250ms, kQuiet) == std::vector<int>{7});
    CHECK(q.take_quiet(5s, kQuiet).empty());  // handed out once
}

TEST_CASE("a connection with a request under way or not yet answered is never closed") {
    QuietConnections q;
    const auto fresh = q.add(3);  // no request yet: maybe a protocol we do not follow (HTTP/2)
    const auto busy = q.add(4);
    q.answered(busy, 1s);
    q.request_begun(busy);
    CHECK(q.take_quiet(60s, kQuiet).empty());
    q.answered(busy, 61s);  // its quiet period starts again at the new answer
    CHECK(q.take_quiet(61s + 100ms, kQuiet).empty());
    CHECK(q.take_quiet(61s + 300ms, kQuiet) == std::vector<int>{4});
    (void)fresh;
}

TEST_CASE("a removed connection's descriptor is never handed out") {
    QuietConnections q;
    const auto a = q.add(5);
    const auto b = q.add(6);
    q.answered(a, 0s);
    q.answered(b, 0s);
    q.remove(a);
    CHECK(q.size() == 1);
    CHECK(q.take_quiet(1s, kQuiet) == std::vector<int>{6});
    q.request_begun(a);  // late calls for a removed connection are ignored
    q.answered(a, 2s);
    CHECK(q.take_quiet(10s, kQuiet).empty());
}
