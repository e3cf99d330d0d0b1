#!/usr/bin/env bash
# One command for the mod_balancer_traffic benchmark: builds, then compares with the stock
# lbmethods on this machine (needs the packages .ci/run installs: apache2, apache2-dev, wrk).
source "$(dirname "$0")/common.sh"
require_tools wrk apache2 apxs cmake
build_bench build-bench mod_balancer_traffic mod_balancer_traffic pick_bench
exec /usr/bin/python3 bench/balancer_traffic.py --build build-bench "$@"
