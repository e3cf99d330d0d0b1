#!/usr/bin/env bash
# One command for the mod_ha_heartbeat active-active benchmark: builds the module, then counts the
# service addresses that move when one node fails and returns, ours against the fewest possible
# and keepalived's crossed instances, in network namespaces it creates and removes (run as root;
# needs the packages .ci/run installs: apache2, apache2-dev, keepalived, iproute2).
source "$(dirname "$0")/common.sh"
require_tools apache2 apxs cmake keepalived ip
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 1; }
build_bench build-bench-ha "" mod_ha_heartbeat
exec /usr/bin/python3 bench/ha_active_active.py --build build-bench-ha "$@"
