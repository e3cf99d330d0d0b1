#include "quiet_connections.h"

#include <catch2/catch.hpp>

using namespace ha_heartbeat;
using namespace std::chrono_literals;

namespace {
constexpr nanoseconds kQuiet = 500ms;

std::vector<int> fds(const std::vector<QuietConnections::Candidate>& cs) {
    std::vector<int> out;
    for (const auto& c : cs) out.push_back(c.fd);
    return out;
}
}  // namespace

TEST_CASE("a kept-alive connection is a candidate once it has been quiet long enough") {
    QuietConnections q;
    const auto id = q.add(7);
    q.answered(id, 1s);
    CHECK(q.quiet(1s + 499ms, kQuiet).empty());
    CHECK(fds(q.quiet(1s + 500ms, kQuiet)) == std::vector<int>{7});
    // Not shut down (a request was waiting in its socket): still a candidate next time.
    CHECK(fds(q.quiet(1s + 600ms, kQuiet)) == std::vector<int>{7});
    q.closed(id);
    CHECK(q.quiet(5s, kQuiet).empty());  // closed once
}

TEST_CASE("a connection with a request under way or not yet answered is never a candidate") {
    QuietConnections q;
    q.add(3);  // no request yet: maybe a protocol we do not follow (HTTP/2)
    const auto busy = q.add(4);
    q.answered(busy, 1s);
    q.request_begun(busy);
    CHECK(q.quiet(60s, kQuiet).empty());
    q.answered(busy, 61s);  // its quiet period starts again at the new answer
    CHECK(q.quiet(61s + 100ms, kQuiet).empty());
    CHECK(fds(q.quiet(61s + 600ms, kQuiet)) == std::vector<int>{4});
}

TEST_CASE("a removed connection's descriptor is never handed out") {
    QuietConnections q;
    const auto a = q.add(5);
    const auto b = q.add(6);
    q.answered(a, 0s);
    q.answered(b, 0s);
    q.remove(a);
    CHECK(q.size() == 1);
    CHECK(fds(q.quiet(1s, kQuiet)) == std::vector<int>{6});
    q.request_begun(a);  // late calls for a removed connection are ignored
    q.answered(a, 2s);
    q.closed(a);
    CHECK(fds(q.quiet(10s, kQuiet)) == std::vector<int>{6});
}
