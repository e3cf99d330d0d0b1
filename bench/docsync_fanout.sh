#!/usr/bin/env bash
# One command for the mod_docsync fan-out benchmark: builds the module, then runs one primary and
# 1 and 7 secondaries (real apache2 on loopback) beside an rsync daemon polled by 1 s loops.
# With --restart-loop SECONDS: 7 secondaries restarting in a loop against a small primary, with
# the long-poll cap and (a second build, build-bench-uncapped) without it.
source "$(dirname "$0")/common.sh"
require_tools rsync apache2 apxs cmake
build_bench build-bench mod_docsync mod_docsync
uncapped=()
if [[ " $* " == *" --restart-loop "* || " $* " == *" --restart-loop="* ]]; then
    # No value of DocSyncExportMaxLongPolls lifts the cap: this build does, for the comparison.
    cmake -S . -B build-bench-uncapped -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSUITE_MODULES=mod_docsync \
        -DSUITE_SANITIZER_TESTS=OFF -DCMAKE_CXX_FLAGS=-DDOCSYNC_BENCH_WITHOUT_LONG_POLL_CAP >/dev/null
    cmake --build build-bench-uncapped -j"$(nproc)" --target mod_docsync >/dev/null
    uncapped=(--uncapped-build build-bench-uncapped)
fi
exec /usr/bin/python3 bench/docsync_fanout.py --build build-bench "${uncapped[@]}" "$@"
