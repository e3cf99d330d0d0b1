#include "client_gone.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>

#include "safe_fs.h"

using namespace docsync;

namespace {

// A connected TCP pair on loopback: what httpd holds (server) and the secondary (client).
struct TcpPair {
    TcpPair() {
        UniqueFd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(listener);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        REQUIRE(::bind(listener.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        REQUIRE(::listen(listener.get(), 1) == 0);
        socklen_t len = sizeof addr;
        REQUIRE(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
        client = UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        REQUIRE(::connect(client.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
        server = UniqueFd(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
        REQUIRE(server);
    }
    UniqueFd server, client;
};

// The kernel has the peer's FIN or RST once a round trip on loopback is done; poll for it
// for at most a second rather than assume.
bool gone_within_a_second(int fd) {
    for (int i = 0; i < 100; ++i) {
        if (client_gone(fd)) return true;
        ::usleep(10'000);
    }
    return false;
}

}  // namespace

TEST_CASE("a client that waits for its answer is still there") {
    TcpPair p;
    CHECK_FALSE(client_gone(p.server.get()));
}

TEST_CASE("a client that sent more (a pipelined request) is still there, and its bytes stay") {
    TcpPair p;
    REQUIRE(::write(p.client.get(), "GET / HTTP/1.1\r\n", 16) == 16);
    ::usleep(10'000);
    CHECK_FALSE(client_gone(p.server.get()));
    char buf[32];
    CHECK(::recv(p.server.get(), buf, sizeof buf, MSG_DONTWAIT) == 16);
}

TEST_CASE("a client that closed right after sending is noticed") {
    TcpPair p;
    p.client.reset();
    CHECK(gone_within_a_second(p.server.get()));
}

TEST_CASE("a client that closed with unread bytes behind it is noticed") {
    TcpPair p;
    REQUIRE(::write(p.client.get(), "x", 1) == 1);
    p.client.reset();
    CHECK(gone_within_a_second(p.server.get()));
}

TEST_CASE("a client that reset the connection is noticed") {
    TcpPair p;
    linger l{1, 0};  // close() sends RST
    REQUIRE(::setsockopt(p.client.get(), SOL_SOCKET, SO_LINGER, &l, sizeof l) == 0);
    p.client.reset();
    CHECK(gone_within_a_second(p.server.get()));
}

TEST_CASE("a client that shut down its sending side is answered at once") {
    TcpPair p;
    REQUIRE(::shutdown(p.client.get(), SHUT_WR) == 0);
    CHECK(gone_within_a_second(p.server.get()));
}

TEST_CASE("end of stream is noticed on a socket that reports no read hang-up") {
    int sv[2];
    REQUIRE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd server(sv[0]), client(sv[1]);
    CHECK_FALSE(client_gone(server.get()));
    client.reset();
    CHECK(client_gone(server.get()));
}

TEST_CASE("no socket is not a gone client") {
    CHECK_FALSE(client_gone(-1));
}
