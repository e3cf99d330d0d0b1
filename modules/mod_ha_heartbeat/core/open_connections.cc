#include "open_connections.h"

#include <sys/socket.h>

#include <cstring>

namespace ha_heartbeat {
namespace {

// The kernel's TCP state numbers (include/net/tcp_states.h), as /proc/net/tcp prints them.
constexpr unsigned kEstablished = 0x01;
constexpr unsigned kSynRecv = 0x03;
constexpr unsigned kFinWait1 = 0x04;
constexpr unsigned kCloseWait = 0x08;
constexpr unsigned kLastAck = 0x09;
constexpr unsigned kClosing = 0x0B;

// A connection whose last data has been retransmitted this often without an acknowledgement
// (at least 200 + 400 + 800 ms at the minimum RTO) has a peer that is gone, typically a client
// lost while the link was down: waiting for it would hold every drain to its timeout, and the
// move cannot hurt it more.
constexpr unsigned kGoneRetransmits = 3;

bool counted_state(unsigned st) {
    return st == kEstablished || st == kSynRecv || st == kFinWait1 || st == kCloseWait ||
           st == kLastAck || st == kClosing;
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// Parses `n` hex digits into a 32-bit word.
bool parse_word(std::string_view s, std::uint32_t* out) {
    std::uint32_t v = 0;
    for (char c : s) {
        const int d = hex_digit(c);
        if (d < 0) return false;
        v = v << 4 | static_cast<std::uint32_t>(d);
    }
    *out = v;
    return true;
}

std::string_view next_field(std::string_view& line) {
    const std::size_t start = line.find_first_not_of(' ');
    if (start == std::string_view::npos) {
        line = {};
        return {};
    }
    line.remove_prefix(start);
    const std::size_t end = line.find(' ');
    std::string_view field = line.substr(0, end);
    line.remove_prefix(end == std::string_view::npos ? line.size() : end);
    return field;
}

// "0100007F:0050": the address is the kernel's __be32 words printed as host-order integers, so
// storing each parsed word in host order gives the address bytes in network order.
bool parse_local(std::string_view field, int family, IpAddress* out) {
    const std::size_t colon = field.find(':');
    if (colon == std::string_view::npos) return false;
    const std::string_view hex = field.substr(0, colon);
    const std::size_t words = family == AF_INET ? 1 : 4;
    if (hex.size() != words * 8) return false;
    out->family = family;
    out->bytes = {};
    for (std::size_t i = 0; i < words; ++i) {
        std::uint32_t w;
        if (!parse_word(hex.substr(i * 8, 8), &w)) return false;
        std::memcpy(out->bytes.data() + i * 4, &w, 4);
    }
    return true;
}

}  // namespace

int count_open_connections(std::string_view table, int family,
                           const std::vector<IpAddress>& addresses) {
    const std::size_t header_end = table.find('\n');
    if (header_end == std::string_view::npos || table.find("local_address") > header_end) return -1;
    table.remove_prefix(header_end + 1);
    int count = 0;
    while (!table.empty()) {
        const std::size_t eol = table.find('\n');
        std::string_view line = table.substr(0, eol);
        table.remove_prefix(eol == std::string_view::npos ? table.size() : eol + 1);
        next_field(line);  // "sl:"
        const std::string_view local = next_field(line);
        next_field(line);  // remote address
        const std::string_view state = next_field(line);
        next_field(line);  // tx_queue:rx_queue
        next_field(line);  // tr:tm->when
        const std::string_view retransmits = next_field(line);
        std::uint32_t st, rt = 0;
        IpAddress a;
        if (state.size() != 2 || !parse_word(state, &st) || !counted_state(st) ||
            !parse_local(local, family, &a))
            continue;
        if (!retransmits.empty() && retransmits.size() <= 8 && parse_word(retransmits, &rt) &&
            rt >= kGoneRetransmits)
            continue;
        for (const IpAddress& s : addresses)
            if (s == a) {
                ++count;
                break;
            }
    }
    return count;
}

}  // namespace ha_heartbeat
