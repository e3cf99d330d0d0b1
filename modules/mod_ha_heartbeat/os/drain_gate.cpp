#include "drain_gate.h"

#include <nftables/libnftables.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>
#include <sstream>

#include "../core/open_connections.h"

namespace ha_heartbeat {
namespace {

// nftables hooks run in priority order; raw (-300) comes before connection tracking, so a
// dropped SYN leaves no conntrack entry behind.
constexpr const char* kHookPriority = "-300";

std::string read_file(const char* path) {
    std::ifstream in(path);
    std::ostringstream out;
    out << in.rdbuf();
    return out.str();
}

}  // namespace

DrainGate::DrainGate(const HaConfig& config, const std::vector<std::size_t>& indices,
                     std::uint32_t group_key, const LogFn& log)
    : config_(config), log_(log) {
    // One table per node and address group, so two nodes sharing a namespace (tests, a demo)
    // never meet, and each group drains on its own.
    char id[32];
    std::snprintf(id, sizeof id, "%08x_%08x", config.node_id(), group_key);
    table_ = std::string("mod_ha_heartbeat_drain_") + id;
    for (std::size_t i : indices) addresses_.push_back(config.service_addresses[i].address);
}

DrainGate::~DrainGate() {
    reopen();
    if (nft_) nft_ctx_free(nft_);
}

std::string DrainGate::run(const std::string& commands) {
    if (!nft_) {
        nft_ = nft_ctx_new(NFT_CTX_DEFAULT);
        if (!nft_) return "nft_ctx_new failed";
        nft_ctx_buffer_output(nft_);
        nft_ctx_buffer_error(nft_);
    }
    if (nft_run_cmd_from_buffer(nft_, commands.c_str()) == 0) return "";
    std::string err = nft_ctx_get_error_buffer(nft_);
    while (!err.empty() && (err.back() == '\n' || err.back() == ' ')) err.pop_back();
    const std::size_t nl = err.find('\n');  // the first line names the problem
    return err.empty() ? "nftables refused the commands" : err.substr(0, nl);
}

std::string DrainGate::close_to_new_connections() {
    if (closed_ || addresses_.empty()) return "";
    std::string v4, v6;
    for (const IpAddress& a : addresses_) {
        std::string& list = a.family == AF_INET6 ? v6 : v4;
        list += (list.empty() ? "" : ", ") + a.text();
    }
    const std::string t = "inet " + table_;
    std::string cmds = "add table " + t + "\n" + "add chain " + t +
                       " syn_drop { type filter hook input priority " + kHookPriority +
                       "; policy accept; }\n";
    // A SYN without ACK opens a connection; everything else belongs to one already open.
    if (!v4.empty())
        cmds += "add rule " + t + " syn_drop ip daddr { " + v4 +
                " } tcp flags & (syn | ack) == syn drop\n";
    if (!v6.empty())
        cmds += "add rule " + t + " syn_drop ip6 daddr { " + v6 +
                " } tcp flags & (syn | ack) == syn drop\n";
    const std::string err = run(cmds);
    if (!err.empty()) {
        run("add table " + t + "\ndelete table " + t + "\n");  // no half-made table left
        return err;
    }
    closed_ = true;
    return "";
}

void DrainGate::reopen(bool always) {
    if (!closed_ && !always) return;
    const std::string t = "inet " + table_;
    // "add" first makes the delete succeed whether or not the table exists.
    const std::string err = run("add table " + t + "\ndelete table " + t + "\n");
    if (!err.empty() && closed_) log_(kLogError, "removing nftables table " + table_ + ": " + err);
    closed_ = false;
}

int DrainGate::open_connections() const {
    const int v4 = count_open_connections(read_file("/proc/net/tcp"), AF_INET, addresses_);
    const int v6 = count_open_connections(read_file("/proc/net/tcp6"), AF_INET6, addresses_);
    if (v4 < 0 && v6 < 0) return -1;
    return (v4 < 0 ? 0 : v4) + (v6 < 0 ? 0 : v6);
}

}  // namespace ha_heartbeat
