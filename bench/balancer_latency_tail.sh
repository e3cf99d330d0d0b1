#!/usr/bin/env bash
# Where bylatency's p99 during the slowdown comes from (bench/balancer_latency_tail.py): the
# degraded-worker scenario with per-request logs, and the floor where the slow worker gets none.
source "$(dirname "$0")/common.sh"
require_tools wrk apache2 apxs cmake
build_bench build-bench mod_balancer_traffic mod_balancer_traffic
export PYTHONPATH="$PWD/bench:$PYTHONPATH"
exec /usr/bin/python3 bench/balancer_latency_tail.py --build build-bench "$@"
