#!/usr/bin/env bash
# One command for the mod_ha_heartbeat failover benchmark: builds the module, then measures our
# failover against keepalived (VRRPv3) in network namespaces it creates and removes (run as root;
# needs the packages .ci/run installs: apache2, apache2-dev, keepalived, iproute2).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in apache2 apxs cmake keepalived ip; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run 'bash .ci/run' once (it installs the packages)"; exit 1; }
done
[ "$(id -u)" = 0 ] || { echo "needs root (network namespaces)"; exit 1; }
cmake -S . -B build-bench-ha -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSUITE_SANITIZER_TESTS=OFF >/dev/null
cmake --build build-bench-ha -j2 --target mod_ha_heartbeat >/dev/null
exec /usr/bin/python3 bench/ha_failover.py --build build-bench-ha "$@"
