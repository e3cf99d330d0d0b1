#!/usr/bin/env bash
# One command for the bylatency benchmark ("a degraded worker"): builds, then runs stock
# byrequests, bytraffic, bybusyness, our bytraffic and bylatency side by side on this machine
# (needs the packages .ci/run installs: apache2, apache2-dev, wrk).
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk apache2 apxs cmake; do
    command -v "$tool" >/dev/null || { echo "missing $tool: run 'bash .ci/run' once (it installs the packages)"; exit 1; }
done
cmake -S . -B build-bench -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSUITE_MODULES=mod_balancer_traffic \
    -DSUITE_SANITIZER_TESTS=OFF >/dev/null
cmake --build build-bench -j"$(nproc)" --target mod_balancer_traffic pick_bench >/dev/null
exec /usr/bin/python3 bench/balancer_latency.py --build build-bench "$@"
