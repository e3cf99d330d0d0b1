#include "open_connections.h"

#include <sys/socket.h>

#include <catch2/catch.hpp>

using namespace ha_heartbeat;

namespace {
IpAddress ip(const char* text) {
    auto p = parse_ip(text);
    REQUIRE(p);
    return *p.value;
}

// Lines as the kernel prints them (trailing columns shortened). 10.231.0.100 is 6400E70A.
const char* kTcp =
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid\n"
    "   0: 6400E70A:0050 00000000:0000 0A 00000000:00000000 00:00000000 00000000 0\n"   // LISTEN
    "   1: 6400E70A:0050 C800E70A:A1B2 01 00000000:00000000 00:00000000 00000000 33\n"  // ESTAB
    "   2: 6400E70A:0050 C800E70A:A1B3 06 00000000:00000000 00:00000000 00000000 0\n"   // TIME_WAIT
    "   3: 6400E70A:0050 C800E70A:A1B4 05 00000000:00000000 00:00000000 00000000 0\n"   // FIN_WAIT2
    "   4: 6400E70A:0050 C800E70A:A1B5 04 00000000:00000000 00:00000000 00000000 33\n"  // FIN_WAIT1
    "   5: 0100007F:1F90 0100007F:C000 01 00000000:00000000 00:00000000 00000000 33\n"  // loopback
    "   6: 6400E70A:01BB C800E70A:A1B6 08 00000000:00000000 00:00000000 00000000 33\n"  // CLOSE_WAIT
    "   7: garbage line\n"
    // ESTABLISHED, its data retransmitted 5 times unacknowledged: the client is gone.
    "   8: 6400E70A:0050 C800E70A:A1B7 01 00000010:00000000 01:00000100 00000005 33\n";
}  // namespace

TEST_CASE("connections to a service address are counted while they can still lose data") {
    CHECK(count_open_connections(kTcp, AF_INET, {ip("10.231.0.100")}) == 3);
    CHECK(count_open_connections(kTcp, AF_INET, {ip("127.0.0.1")}) == 1);
    CHECK(count_open_connections(kTcp, AF_INET, {ip("10.231.0.101")}) == 0);
    CHECK(count_open_connections(kTcp, AF_INET, {}) == 0);
}

TEST_CASE("an IPv6 table is read word by word") {
    // fd00:231::100 is the bytes fd 00 02 31 .. 00 00 01 00; the kernel prints each 32-bit word
    // as a host-order (here little-endian) integer: 310200FD 00000000 00000000 00010000.
    const char* tcp6 =
        "  sl  local_address                         remote_address                        st\n"
        "   0: 310200FD000000000000000000010000:0050 310200FD000000000000000000020000:C350 01\n";
    CHECK(count_open_connections(tcp6, AF_INET6, {ip("fd00:231::100")}) == 1);
    CHECK(count_open_connections(tcp6, AF_INET6, {ip("fd00:231::200")}) == 0);
}

TEST_CASE("a table without its header cannot be counted") {
    CHECK(count_open_connections("", AF_INET, {ip("10.0.0.1")}) == -1);
    CHECK(count_open_connections("not a table\n", AF_INET, {ip("10.0.0.1")}) == -1);
}
