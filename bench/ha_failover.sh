#!/usr/bin/env bash
# One command for the mod_ha_heartbeat failover benchmark: builds the module, then measures our
# failover against keepalived (VRRPv3) in network namespaces it creates and removes (run as root;
# needs the packages .ci/run installs: apache2, apache2-dev, keepalived, iproute2).
source "$(dirname "$0")/common.sh"
require_tools apache2 apxs cmake keepalived ip
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 1; }
build_bench build-bench-ha "" mod_ha_heartbeat
exec /usr/bin/python3 bench/ha_failover.py --build build-bench-ha "$@"
