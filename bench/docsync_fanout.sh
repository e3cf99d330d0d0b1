#!/usr/bin/env bash
# One command for the mod_docsync fan-out benchmark: builds the module, then runs one primary and
# 1 and 7 secondaries (real apache2 on loopback) beside an rsync daemon polled by 1 s loops.
source "$(dirname "$0")/common.sh"
require_tools rsync apache2 apxs cmake
build_bench build-bench mod_docsync mod_docsync
exec /usr/bin/python3 bench/docsync_fanout.py --build build-bench "$@"
