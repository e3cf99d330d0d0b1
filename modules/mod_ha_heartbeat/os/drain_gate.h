// The operating-system side of draining a node before a planned move (core/drain_policy.h):
// closes the service addresses to new TCP connections without refusing them, by a table of our
// own in nftables (in this node's network namespace) that drops SYNs to those addresses, and
// counts the connections still open on them (/proc/net/tcp{,6}). The table is the only change
// made to the host's networking, and it is removed when the drain ends (or, after a crash, when
// the heartbeat process starts again). No httpd headers.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "../core/ha_config.h"
#include "child_commands.h"

struct nft_ctx;

namespace ha_heartbeat {

class DrainGate {
  public:
    // Gates the service addresses at `indices` (one address group, key `group_key`).
    DrainGate(const HaConfig& config, const std::vector<std::size_t>& indices,
              std::uint32_t group_key, const LogFn& log);
    ~DrainGate();
    DrainGate(const DrainGate&) = delete;
    DrainGate& operator=(const DrainGate&) = delete;

    // Adds the table; returns "" or why not (the drain then goes on without it: new connections
    // are accepted, and those still open when the move happens are reset).
    std::string close_to_new_connections();
    // Removes the table if this process added it, or `always` (a leftover from a crash).
    void reopen(bool always = false);
    bool closed() const { return closed_; }
    // Connections on the service addresses that a move would break; -1 if unknown.
    int open_connections() const;

  private:
    std::string run(const std::string& commands);

    const HaConfig& config_;
    const LogFn& log_;
    std::string table_;
    std::vector<IpAddress> addresses_;
    nft_ctx* nft_ = nullptr;
    bool closed_ = false;
};

}  // namespace ha_heartbeat
